"""The one settings object, read from the environment (`LEDGER_*`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreURL:
    """A parsed `LEDGER_DATABASE_URL`: `sqlite:///path/file.db` or `postgresql://...`."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.scheme = parts.scheme
        if parts.scheme == "sqlite":
            # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
            path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
            if not path:
                raise ValueError("a SQLite URL looks like sqlite:///var/ledger.db")
            self.sqlite_path = path
        elif parts.scheme in ("postgresql", "postgres"):
            self.pg_host = parts.hostname or "127.0.0.1"
            self.pg_port = str(parts.port or 5432)
            self.pg_user = unquote(parts.username or "postgres")
            self.pg_password = unquote(parts.password or "")
            self.pg_dbname = parts.path.lstrip("/") or "postgres"
            query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
            self.pg_schema = query.get("schema", "")
        else:
            raise ValueError(
                f"unsupported LEDGER_DATABASE_URL scheme {parts.scheme!r}: "
                "use sqlite:///path/to/file.db or postgresql://user@host:port/dbname"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return not self.is_sqlite


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/ledger.db",
        description="sqlite:///path/to/file.db or postgresql://user@host:port/dbname",
    )
    timezone: str = Field(default="UTC", description="the time zone deadlines pass in")
    origin: str = Field(
        default="accountability-ledger.local/log",
        description="the name of the log in its signed checkpoints",
        pattern=r"^[\x21-\x7e]+$",
    )
    signing_key_file: str | None = Field(
        default=None,
        description="the Ed25519 checkpoint signing key (PEM); made beside the store if unset",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="the base URL links are built from"
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks reach private and loopback addresses (local development)",
    )
    webhook_lease: float = Field(
        default=60.0,
        gt=0,
        description="seconds a claimed webhook delivery stays reserved for its sender; after "
        "a sender dies, another retries its deliveries once this runs out",
    )
    checkpoint_every: float = Field(
        default=5.0, description="least seconds between checkpoints while the log grows"
    )

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        StoreURL(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r}") from e
        return value

    @cached_property
    def store(self) -> StoreURL:
        return StoreURL(self.database_url)

    def ensure_local_dirs(self) -> None:
        if self.store.is_sqlite:
            Path(self.store.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
