"""Passwords without a server: the policy (NIST SP 800-63B: length, not composition) and
the first admin's password written at first start (docs/security.md, "Browser sessions")."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.db import web_sessions
from core.db.session import transaction
from core.errors import InvalidInput
from services import passwords
from tests.support import make_settings
from zhiku.database import build_sessions


def test_the_password_policy_is_length_not_composition() -> None:
    for weak in ("eleven char", "Administrator1".upper(), "Ｓｈｏｒｔ"):
        with pytest.raises(InvalidInput):
            passwords.check_policy(weak, "administrator1")
    # Any letters will do, Chinese included; full-width Latin counts as its plain form.
    assert (
        passwords.check_policy("今天天气很好我们去公园散步", "张伟") == "今天天气很好我们去公园散步"
    )
    assert passwords.check_policy("ｃｏｒｒｅｃｔ ｈｏｒｓｅ", "bob") == "correct horse"


def test_first_start_gives_the_admin_a_password_file_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zhiku.bootstrap import ADMIN_PASSWORD_FILE, ensure_first_admin

    settings = make_settings(tmp_path / "data")
    ensure_first_admin(settings)
    path = settings.data_dir / ADMIN_PASSWORD_FILE
    password = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(password) >= 12
    printed = capsys.readouterr()
    assert password not in printed.out + printed.err and str(path) in printed.out
    with transaction(build_sessions(settings)) as s:
        admin = web_sessions.find_user(s, "default", "admin")
        assert admin is not None and passwords.verify_password(admin.password_hash, password)
