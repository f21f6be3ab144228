"""compose.yaml, validated without a Docker engine: Compose's own reading of it
(``docker-compose config``) for each profile, the commands its services run against the
``zhiku`` CLI, its ``ZHIKU_*`` variables against the settings, and the production rules
(migrations once, health checks, restarts, pinned images, no secret in the file)."""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from core.settings import Settings
from core.settings_env import unknown_variables
from tests.deploy.helpers import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    PROFILES,
    active_services,
    is_zhiku,
    resolve_command,
)
from tests.deploy.test_images import lock_entries
from tests.support import REPO_ROOT

# The one-shot job; every other service runs until stopped.
JOBS = {"migrate"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN|AUTH", re.IGNORECASE)


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_starts_a_whole_deployment(profile: str) -> None:
    services = active_services(profile)
    zhiku = {name for name, s in services.items() if is_zhiku(s)}
    commands = {name: services[name]["command"][:2] for name in zhiku}
    assert ["zhiku", "serve"] in commands.values(), "no API"
    workers = [services[n]["command"] for n in zhiku if commands[n] == ["zhiku", "worker"]]
    queues = {q for cmd in workers for q in cmd[cmd.index("--queues") + 1].split(",")}
    assert queues == {"parse", "parse-small", "embed"}, "a queue nobody serves"
    assert {"postgres", "redis", "qdrant", "migrate"} <= services.keys()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            # Compose refuses (or, 1.29, silently drops) a dependency outside the profile.
            assert dependency in services, f"{profile}: {name} needs {dependency}"


@pytest.mark.parametrize("profile", PROFILES)
def test_small_files_have_a_parse_process_of_their_own(profile: str) -> None:
    """While every worker-parse process is on a large file (minutes), a memo is parsed by a
    worker that serves the small files' queue alone, one process (``zhiku worker --queues
    parse-small``); the parse workers serve both queues (``zhiku/cli.py``)."""
    services = active_services(profile)
    queues = {
        name: s["command"][s["command"].index("--queues") + 1].split(",")
        for name, s in services.items()
        if is_zhiku(s) and s["command"][:2] == ["zhiku", "worker"]
    }
    small = [name for name, asked in queues.items() if asked == ["parse-small"]]
    assert small == ["worker-parse-small"]
    command = services["worker-parse-small"]["command"]
    assert command[command.index("--concurrency") + 1] == "1"
    assert any("parse" in asked for asked in queues.values())


@pytest.mark.parametrize("profile", PROFILES)
def test_one_migration_job_runs_before_api_and_workers(profile: str) -> None:
    services = active_services(profile)
    migrations = [
        n for n, s in services.items() if s.get("command", [])[:3] == ["zhiku", "db", "upgrade"]
    ]
    assert migrations == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        if not is_zhiku(service) or name in JOBS:
            continue
        condition = service["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
        # ...and does not migrate again itself (core/settings.py: database.auto_migrate).
        assert service["environment"]["ZHIKU_DATABASE__AUTO_MIGRATE"] == "false", name


@pytest.mark.parametrize("profile", PROFILES)
def test_every_long_running_service_restarts_and_reports_health(profile: str) -> None:
    for name, service in active_services(profile).items():
        if name in JOBS:
            continue
        assert service.get("restart") == "unless-stopped", name
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
        # Pinned images: a tag naming a version, never latest (ours are built from the tree).
        image = service["image"]
        if not is_zhiku(service):
            assert re.search(r":v?\d+(\.\d+)+", image) and "latest" not in image, image


@pytest.mark.parametrize("profile", PROFILES)
def test_every_zhiku_command_exists(profile: str) -> None:
    for name, service in active_services(profile).items():
        if is_zhiku(service):
            context = resolve_command(service["command"])
            assert context.command.callback is not None, name
        # The workers' health check: Celery's own ping, with options Celery has.
        check = " ".join(service.get("healthcheck", {}).get("test", []))
        if "celery" in check:
            assert "inspect ping" in check and "--destination" in check and "--timeout" in check
    # A typo would fail, so the check above is not vacuous.
    with pytest.raises(Exception, match=r"No such option"):
        resolve_command(["zhiku", "worker", "--queue", "parse"])


@pytest.mark.parametrize("profile", PROFILES)
def test_every_zhiku_variable_is_a_setting_and_loads(
    profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in active_services(profile).items():
        if not is_zhiku(service):
            continue
        env = {k: str(v) for k, v in service["environment"].items()}
        assert unknown_variables(env, Settings) == [], name
        for key in [k for k in os.environ if k.startswith("ZHIKU_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.environment == "production" and not settings.database.auto_migrate
        assert settings.redis_url.startswith("redis://:") and "@redis:6379" in settings.redis_url
        assert settings.qdrant.url == "http://qdrant:6333" and settings.qdrant.api_key
        if "ZHIKU_LLM__BACKENDS" in env:  # vLLM answers: the embedded model stays off
            assert [b.name for b in settings.llm.backends] == ["vllm"]
            assert not settings.llm.local.enabled


def test_env_example_names_only_real_settings() -> None:
    names = list(dotenv_values(ENV_EXAMPLE))
    assert "ZHIKU_SECRET_KEY" in names
    assert unknown_variables(names, Settings) == []


def test_no_secret_is_written_in_compose_yaml() -> None:
    """Every secret-looking value in the file itself is a ``${VARIABLE}`` from .env."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    found: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str | int) and SECRET_NAME.search(str(key)):
                    found.append((f"{path}.{key}", str(value)))
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(raw, "")
    assert found, "the walk found nothing: the names changed?"
    for where, value in found:
        assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", value), where
    # Passwords inside URLs and the backends' JSON come from variables too.
    text = COMPOSE_FILE.read_text()
    assert "${POSTGRES_PASSWORD" in text and "redis://:${REDIS_PASSWORD" in text
    assert not re.search(r"://[^:/\s]*:(?!\$\{)[^@\s]+@", text), "a literal password in a URL"
    # And .env.example leaves every secret empty: nothing to copy and forget.
    example = dotenv_values(ENV_EXAMPLE)
    assert all(not v for k, v in example.items() if SECRET_NAME.search(k))


def test_redis_requires_its_password() -> None:
    redis = active_services("cpu")["redis"]
    command = " ".join(redis["command"])
    assert "--requirepass" in command and "$REDIS_PASSWORD" in command
    assert redis["environment"]["REDIS_PASSWORD"]  # filled in from .env, never empty
    # Its own health check authenticates through redis-cli's variable, not an argument.
    assert redis["environment"]["REDISCLI_AUTH"] == redis["environment"]["REDIS_PASSWORD"]


def test_vllm_is_pinned_shares_its_gpu_and_the_api_waits_for_it() -> None:
    services = active_services("gpu")
    vllm = services["vllm"]
    assert re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", vllm["image"])
    args = vllm["command"]
    utilization = next(a for a in args if a.startswith("--gpu-memory-utilization="))
    assert 0.3 <= float(utilization.split("=")[1]) <= 0.95  # leaves room for the embed worker
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["device_ids"] and "gpu" in devices[0]["capabilities"]
    embed = services["worker-embed-gpu"]
    assert (
        embed["image"] == "zhiku:gpu" and embed["environment"]["ZHIKU_EMBEDDING__DEVICE"] == "cuda"
    )
    assert embed["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
    # The API starts without waiting for the weights; its readiness waits (llm/backend_probe).
    api = services["api-gpu"]
    assert api["depends_on"]["vllm"]["condition"] == "service_started"
    assert "http://vllm:8000/v1" in api["environment"]["ZHIKU_LLM__BACKENDS"]
    assert "vllm" not in active_services("cpu")


def test_the_qdrant_server_is_the_version_the_client_and_the_tests_use() -> None:
    """compose's Qdrant server, pyproject's qdrant-client range, the images' locks and the
    tests' own lock (the client the suite runs) all name one minor version: a server the
    client range allows, and the very client the tests exercise."""
    image = active_services("cpu")["qdrant"]["image"]
    match = re.fullmatch(r"qdrant/qdrant:v(\d+)\.(\d+)\.(\d+)", image)
    assert match, image
    server = Version(".".join(match.groups()))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (client_range,) = [
        Requirement(r).specifier
        for r in project["dependencies"]
        if canonicalize_name(Requirement(r).name) == "qdrant-client"
    ]
    assert server in client_range, (server, str(client_range))
    for lock in ("cpu.lock", "gpu.lock", "dev.lock"):
        client = lock_entries(lock)["qdrant-client"][0]
        assert (client.major, client.minor) == (server.major, server.minor), (lock, client)
