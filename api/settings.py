"""Settings of the HTTP service, from the environment (`LEDGER_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    write_rate: float = Field(default=10.0, description="writes per second allowed per key")
    write_burst: int = Field(default=60, description="writes a key may make at once")
    max_body_bytes: int = Field(default=256 * 1024, description="largest request body")
    wait_seconds: float = Field(default=5.0, description="how long min_position waits")
    ready_max_lag: int = Field(
        default=10_000, description="readiness fails while a follower lags more events"
    )
    run_followers: bool = Field(
        default=True, description="run the followers and deadline watcher in the server"
    )
    watch_every: float = Field(default=60.0, description="seconds between deadline checks")
