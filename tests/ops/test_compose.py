"""docker-compose.yml can't run here (no engine): check that it names real things instead."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click
import pytest
import typer.main
import yaml
from sqlalchemy.engine import make_url

from descent_server.cli import app
from descent_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
EXPECTED = {"postgres", "redis", "migrate", "api", "worker", "worker-gpu", "flower"}
ENV_DEFAULT = re.compile(r"\$\{\w+:-([^}]*)\}")  # compose's ${VAR:-default}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _resolve(value: str) -> str:
    resolved = ENV_DEFAULT.sub(lambda m: m.group(1), value)
    assert "$" not in resolved, f"an interpolation without a default: {value}"
    return resolved


def test_every_service_is_there() -> None:
    assert set(SERVICES) >= EXPECTED


@pytest.mark.parametrize("name", sorted(n for n in SERVICES if n not in {"postgres", "redis"}))
def test_command_names_a_real_entry_point(name: str) -> None:
    command = SERVICES[name]["command"]
    assert isinstance(command, list), "exec form, so no shell sits between signals and the app"
    if command[0] == "descent-server":
        root = typer.main.get_command(app)
        cmd: click.Command = root
        args = list(command[1:])
        while isinstance(cmd, click.Group) and args and not args[0].startswith("-"):
            sub = cmd.get_command(click.Context(cmd), args[0])
            assert sub is not None, f"{name}: no descent-server subcommand {args[0]!r}"
            cmd, args = sub, args[1:]
        assert not isinstance(cmd, click.Group), f"{name}: incomplete command {command}"
        # Parsing (without invoking) rejects unknown options and bad values.
        cmd.make_context(cmd.name, args)
    elif command[0] == "celery":
        module = command[command.index("-A") + 1]
        celery_app = importlib.import_module(module).app
        assert celery_app.main, f"{module}.app is not a configured Celery app"
        assert command[command.index("-A") + 2] in {"worker", "flower", "beat"}
    else:
        pytest.fail(f"{name}: unexpected command {command}")


def test_descent_env_vars_are_settings_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {f"DESCENT_{name.upper()}" for name in Settings.model_fields}
    seen = 0
    for name, service in SERVICES.items():
        env = {k: _resolve(v) for k, v in _env(service).items() if k.startswith("DESCENT_")}
        unknown = set(env) - fields
        assert not unknown, f"{name}: not settings fields: {unknown}"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        Settings(_env_file=None)  # type: ignore[call-arg]  # the values validate
        for key in env:
            monkeypatch.delenv(key)
        seen += len(env)
    assert seen


def test_healthchecks_and_dependency_conditions() -> None:
    for name in ("postgres", "redis", "api"):
        assert SERVICES[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "pg_isready" in str(SERVICES["postgres"]["healthcheck"]["test"])
    assert "ping" in str(SERVICES["redis"]["healthcheck"]["test"])
    assert "/readyz" in str(SERVICES["api"]["healthcheck"]["test"])

    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dep, spec in depends.items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{dep} has no healthcheck to wait for"
            else:
                assert condition == "service_completed_successfully", (name, dep, condition)

    def condition(service: str, dep: str) -> str:
        return SERVICES[service]["depends_on"][dep]["condition"]

    assert condition("migrate", "postgres") == "service_healthy"
    assert SERVICES["migrate"]["restart"] == "no"
    for service in ("api", "worker", "worker-gpu"):
        assert condition(service, "migrate") == "service_completed_successfully"
        assert condition(service, "redis") == "service_healthy"


def test_gpu_worker_reserves_a_gpu_and_sets_its_backend() -> None:
    gpu = SERVICES["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == 1
    assert "gpu" in device["capabilities"]
    env = _env(gpu)
    assert env["KERAS_BACKEND"] == env["DESCENT_KERAS_BACKEND"]
    assert env["DESCENT_WORKER_QUEUES"] == "gpu"
    assert env["DESCENT_WORKER_MAX_TASKS_PER_CHILD"] == "1"  # GPU memory freed per run
    assert "gpu" in gpu["command"][gpu["command"].index("--queues") + 1]
    assert gpu["build"]["args"]["VARIANT"] == "gpu"
    assert "tensorflow[and-cuda]" in (ROOT / "Dockerfile").read_text()
    assert "gpu" not in _env(SERVICES["worker"])["DESCENT_WORKER_QUEUES"]


def test_dockerfile_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") or dockerfile.startswith("FROM")
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r'pip install "?\.\[', dockerfile)
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert list(ROOT.glob(source)), f"COPY {source}: nothing in the repository"
    for name, service in SERVICES.items():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / "Dockerfile").exists(), name


def test_every_descent_service_reaches_the_same_database_and_broker() -> None:
    pg = {k: _resolve(v) for k, v in _env(SERVICES["postgres"]).items()}
    apps = [name for name in SERVICES if name not in {"postgres", "redis"}]
    for name in apps:
        env = {k: _resolve(v) for k, v in _env(SERVICES[name]).items()}
        db = make_url(env["DESCENT_DATABASE_URL"])
        assert (db.drivername, db.host, db.port) == ("postgresql+psycopg", "postgres", 5432)
        assert (db.username, db.password, db.database) == (
            pg["POSTGRES_USER"],
            pg["POSTGRES_PASSWORD"],
            pg["POSTGRES_DB"],
        ), name
        assert urlparse(env["DESCENT_BROKER_URL"]).hostname == "redis", name
