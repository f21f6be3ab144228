"""The secret key (the API keys' pepper): how long it must be, where development keeps the one
it made, and the fixed one tests use."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# The pepper mixed into every API key's hash: whoever knows it and reads the key table can
# test guesses offline, so production refuses a short one (docs/security.md).
MIN_SECRET_KEY_CHARS = 32
# Where development keeps the random pepper it made on first start (mode 600).
SECRET_KEY_FILE = "secret-key"
# environment=test only: a fixed pepper, so tests mint keys without touching any disk. It is
# public: never run real data with environment=test.
TEST_SECRET_KEY = "zhiku-test-only-pepper-public-never-for-real-data"


def owner_only(path: Path) -> None:
    """Force mode 600 on a file holding a secret, whatever mode it was created with."""
    if path.stat().st_mode & 0o777 != 0o600:
        os.chmod(path, 0o600)


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, made (random, mode 600) if the file does not exist yet. Safe
    when several processes start at once: the file appears complete or not at all (written
    aside, then linked into place), and the first one linked wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
    owner_only(path)
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_KEY_CHARS:
        raise ValueError(f"{path} holds fewer than {MIN_SECRET_KEY_CHARS} characters")
    return secret
