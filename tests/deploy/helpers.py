"""compose.yaml as Compose itself reads it: rendered by ``docker-compose config`` (Debian's
docker-compose 1.29; no Docker engine is needed for ``config``) with .env.example's values and
made-up secrets, and the commands its services run resolved against the ``zhiku`` CLI."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from typing import Any

import yaml
from dotenv import dotenv_values
from typer.main import get_command

from tests.support import REPO_ROOT
from zhiku.cli import app

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
PROFILES = ("cpu", "gpu")


def example_env() -> dict[str, str]:
    """.env.example with each empty secret filled in, as an operator would."""
    values = {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE).items()}
    for name, value in values.items():
        if not value:
            values[name] = secrets.token_hex(24)  # 48 characters: URL-safe, long enough
    return values


@cache
def rendered(profile: str) -> dict[str, Any]:
    """``docker-compose --profile <profile> config``: anchors merged, variables filled in."""
    binary = shutil.which("docker-compose")
    assert binary, "Debian's docker-compose package is needed (apt-get install docker-compose)"
    # Only the variables .env.example names (and PATH): nothing of this machine's environment.
    env = {"PATH": os.environ.get("PATH", ""), **example_env()}
    result = subprocess.run(
        [binary, "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE_FILE),
         "--profile", profile, "config"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def active_services(profile: str) -> dict[str, dict[str, Any]]:
    """The services ``up`` starts in ``profile``: those without profiles and the profile's.
    (docker-compose 1.29's ``config`` lists every service; ``up`` starts these.)"""
    services = rendered(profile)["services"]
    return {
        name: service
        for name, service in services.items()
        if not service.get("profiles") or profile in service["profiles"]
    }


def is_zhiku(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).startswith("zhiku:")


def resolve_command(args: Sequence[str]) -> Any:
    """Parse ``zhiku <args>`` as the CLI would, without running it: an unknown command or
    option, or a bad value, raises the CLI's usage error. Returns the command's context.
    (Typer's groups are click commands with ``get_command``, in Typer's own copy of click.)"""
    assert args and args[0] == "zhiku", args
    command: Any = get_command(app)
    rest = list(args[1:])
    parent = command.context_class(command, info_name="zhiku")
    while hasattr(command, "get_command"):
        assert rest, f"{list(args)}: a subcommand is missing"
        name = rest.pop(0)
        sub = command.get_command(parent, name)
        assert sub is not None, f"{list(args)}: no command {name!r}"
        command = sub
        if hasattr(command, "get_command"):
            parent = command.context_class(command, info_name=name, parent=parent)
    return command.make_context(command.name or "", rest, parent=parent)
