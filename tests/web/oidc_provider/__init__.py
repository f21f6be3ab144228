"""A real OpenID Connect provider for the tests: panva's ``oidc-provider`` (npm, pinned by
``package-lock.json``) run by Node on a loopback port.

Its ``node_modules`` is never committed: ``installed()`` runs ``npm ci`` once into
``~/.cache/zhiku/oidc-provider-<hash of package.json and the lock>/`` (reused while the
lock is unchanged) and the provider runs from there (``provider.mjs`` copied in each run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.live import wait_http

HERE = Path(__file__).parent
FILES = ("package.json", "package-lock.json")
CLIENT_ID = "zhiku-portal"
CLIENT_SECRET = "test-only-client-secret-never-for-real"


def installed() -> Path:
    """The folder holding this lock's ``node_modules`` (installed by ``npm ci`` when absent,
    into a folder aside then moved into place, so a broken install is never reused)."""
    digest = hashlib.sha256(b"".join((HERE / name).read_bytes() for name in FILES)).hexdigest()
    target = Path.home() / ".cache" / "zhiku" / f"oidc-provider-{digest[:12]}"
    if not (target / "node_modules" / "oidc-provider").is_dir():
        aside = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir(parents=True)
        for name in FILES:
            shutil.copy(HERE / name, aside / name)
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: the OpenID Connect tests need Node 20+")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=aside,
            check=True,
            capture_output=True,
            timeout=600,
        )
        try:
            aside.rename(target)
        except OSError:  # another run made it first
            shutil.rmtree(aside, ignore_errors=True)
    shutil.copy(HERE / "provider.mjs", target / "provider.mjs")  # always this checkout's
    return target


@dataclass(frozen=True)
class Account:
    """A person at the provider: the login typed into its form names them."""

    sub: str
    email: str
    email_verified: bool = True


@dataclass(frozen=True)
class RunningProvider:
    issuer: str
    port: int


@contextmanager
def provider(
    port: int, redirect_uri: str, accounts: dict[str, Account], log: Path
) -> Iterator[RunningProvider]:
    """The provider listening on ``127.0.0.1:port`` with one client (``CLIENT_ID``) whose
    one redirect URI is ``redirect_uri``."""
    folder = installed()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "NODE_ENV": "development",
        "OIDC_PORT": str(port),
        "OIDC_REDIRECT_URI": redirect_uri,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_ACCOUNTS": json.dumps({login: vars(a) for login, a in accounts.items()}),
    }
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: the OpenID Connect tests need Node 20+")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [node, "provider.mjs"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    issuer = f"http://127.0.0.1:{port}"
    try:
        wait_http(issuer + "/.well-known/openid-configuration", 60, proc, ok_only=True)
        yield RunningProvider(issuer, port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
