"""The compose file and Dockerfile agree with the code they run (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from api.app import create_app
from api.settings import ApiSettings
from ledger.cli import app as cli
from ledger.config import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
COMMANDS = get_command(cli).commands  # type: ignore[attr-defined]
SETTINGS = {
    f"LEDGER_{name.upper()}" for name in (*Settings.model_fields, *ApiSettings.model_fields)
}


def _ledger_services() -> dict[str, dict]:  # type: ignore[type-arg]
    return {n: s for n, s in COMPOSE["services"].items() if n != "postgres"}


def test_every_service_runs_a_real_ledger_command_with_real_options() -> None:
    services = _ledger_services()
    assert set(services) == {"api", "worker"}
    for service in services.values():
        program, name, *args = service["command"]
        assert program == "ledger" and name in COMMANDS
        known = {opt for p in COMMANDS[name].params for opt in p.opts}
        for arg in args:
            if arg.startswith("--"):
                assert arg in known, f"{name} has no option {arg}"


def test_every_environment_variable_is_a_setting_the_code_reads() -> None:
    for service in _ledger_services().values():
        for key in service["environment"]:
            assert key in SETTINGS, f"{key} is not a setting"
        url = service["environment"]["LEDGER_DATABASE_URL"]
        assert Settings(database_url=url).store.is_postgres
        assert url.split("@")[1].startswith("postgres:5432/")
    db = COMPOSE["services"]["postgres"]["environment"]
    assert db["POSTGRES_DB"] == "ledger" and db["POSTGRES_USER"] == "ledger"


def test_health_checks_ask_what_the_server_answers() -> None:
    paths = set(create_app().openapi()["paths"])
    api_check = " ".join(COMPOSE["services"]["api"]["healthcheck"]["test"])
    assert "/readyz" in api_check and "/readyz" in paths
    assert "/healthz" in (DOCKER / "Dockerfile").read_text() and "/healthz" in paths
    assert COMPOSE["services"]["api"]["environment"]["LEDGER_RUN_FOLLOWERS"] == "false"
    assert COMPOSE["services"]["worker"]["deploy"]["replicas"] >= 2


def test_the_image_is_pinned_and_runs_as_a_user() -> None:
    lines = (DOCKER / "Dockerfile").read_text().splitlines()
    base = next(line for line in lines if line.startswith("FROM "))
    assert ":3.11." in base and "latest" not in base
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    assert COMPOSE["services"]["postgres"]["image"].startswith("postgres:15.")
