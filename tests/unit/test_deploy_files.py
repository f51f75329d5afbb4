"""The deployment files read as intended: docker-compose.yml, Dockerfile and .dockerignore, parsed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ["migrate", "web", "worker", "flower"]
INFRA = {"postgres": "service_healthy", "redis": "service_healthy"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def index_of(instructions: list[tuple[str, str]], keyword: str, arguments: str) -> int:
    return next(i for i, (k, a) in enumerate(instructions) if k == keyword and a.startswith(arguments))


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_compose_defines_the_six_services(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "redis", *APP_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


def test_app_services_build_this_directory(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert (build if isinstance(build, str) else build["context"]) == ".", name


@pytest.mark.parametrize(("service", "command"), [
    ("migrate", ["python", "-m", "console", "migrate"]),
    ("flower", ["python", "-m", "console", "flower", "--address", "0.0.0.0"]),
])
def test_one_shot_and_flower_commands(services: dict[str, Any], service: str, command: list[str]) -> None:
    assert services[service]["command"] == command


def test_worker_runs_the_console_worker(services: dict[str, Any]) -> None:
    assert services["worker"]["command"][:4] == ["python", "-m", "console", "worker"]


def test_only_web_publishes_a_port(services: dict[str, Any]) -> None:
    assert services["web"]["ports"] == ["8000:8000"]
    assert [name for name, service in services.items() if service.get("ports") and name != "web"] == []
    assert services["flower"]["expose"] == ["5555"]


def test_web_and_worker_wait_for_healthy_services_and_migrations(services: dict[str, Any]) -> None:
    for name in ["web", "worker"]:
        assert depends_on(services[name]) == {**INFRA, "migrate": "service_completed_successfully"}, name


def test_migrate_and_flower_wait_for_what_they_use(services: dict[str, Any]) -> None:
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    assert services["migrate"]["restart"] == "no"
    assert depends_on(services["flower"]) == {"redis": "service_healthy"}


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name in ["postgres", "redis", "web", "worker", "flower"]:
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_named_volumes_are_declared_and_used(compose: dict[str, Any], services: dict[str, Any]) -> None:
    assert set(compose["volumes"]) == {"pgdata", "redisdata"}
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redisdata:/data" in services["redis"]["volumes"]
    assert "--appendonly" in services["redis"]["command"]


def test_logs_are_mounted_from_the_host(services: dict[str, Any]) -> None:
    for name in ["web", "worker"]:
        assert "./logs:/app/logs" in services[name]["volumes"], name


def test_app_services_share_one_environment(services: dict[str, Any]) -> None:
    env = services["web"]["environment"]
    assert all(services[name]["environment"] == env for name in APP_SERVICES)
    password = "${POSTGRES_PASSWORD:-console}"
    assert env["DATABASE_URL"] == f"postgresql+psycopg2://console:{password}@postgres:5432/console"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert (env["LOG_DIR"], env["FLOWER_URL"]) == ("/app/logs", "http://flower:5555")
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password


def test_dockerfile_starts_from_python_slim() -> None:
    assert dockerfile_instructions()[0] == ("FROM", "python:3.11-slim")


def test_dockerfile_installs_requirements_before_copying_the_code() -> None:
    instructions = dockerfile_instructions()
    copy_requirements = index_of(instructions, "COPY", "requirements.txt")
    pip_install = index_of(instructions, "RUN", "pip install --no-cache-dir -r requirements.txt")
    copy_code = index_of(instructions, "COPY", ". .")
    assert copy_requirements < pip_install < copy_code


def test_dockerfile_runs_as_a_non_root_user_after_the_code_copy() -> None:
    instructions = dockerfile_instructions()
    users = [i for i, (keyword, _) in enumerate(instructions) if keyword == "USER"]
    assert users, "no USER instruction: the container would run as root"
    last_user = instructions[users[-1]][1]
    assert last_user not in {"root", "0"} and not last_user.startswith(("root:", "0:"))
    assert users[-1] > index_of(instructions, "COPY", ". .")


def test_dockerfile_environment_workdir_and_port() -> None:
    instructions = dockerfile_instructions()
    env = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    assert ("WORKDIR", "/app") in instructions
    assert ("EXPOSE", "8000") in instructions


def test_dockerfile_serves_with_uvicorn_and_checks_healthz() -> None:
    instructions = dockerfile_instructions()
    commands = [arguments for keyword, arguments in instructions if keyword == "CMD"]
    assert json.loads(commands[-1]) == [
        "uvicorn", "console.app:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
    healthcheck = next(arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK")
    assert "urllib" in healthcheck and "http://127.0.0.1:8000/healthz" in healthcheck


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".env", "data/", "logs/*"} <= ignored
    assert {"**/__pycache__", "**/*.pyc", ".pytest_cache"} <= ignored


def compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def test_docker_compose_accepts_the_file() -> None:
    if not compose_available():
        pytest.skip("the docker compose plugin is not available here")
    env = {**os.environ, "SECRET_KEY": "a-test-secret-of-32-characters-x"}
    result = subprocess.run(["docker", "compose", "-f", "docker-compose.yml", "config", "-q"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
