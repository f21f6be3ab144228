"""Sign-in's refusals in the caller's language over real HTTP: they are built in one place and
raised in another (``services.sign_in``'s ``_Refusal``), which the coverage walk of
``tests/api/test_reasons_coverage.py`` once missed, so a Chinese caller read them in English."""

from __future__ import annotations

import httpx
import pytest

from core.db import web_sessions
from core.db.models import User, utcnow
from core.db.session import transaction
from services import passwords
from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
FAILURES = 3


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("sign-in-words"),
        database={"url": pg_url},
        web={"lockout_failures": FAILURES, "address_failures": 1000},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def login(server: ThreadServer, body: dict[str, str], **headers: str) -> httpx.Response:
    return httpx.post(
        server.url + "/v1/auth/login", json=body, headers={"Origin": server.url, **headers}
    )


def test_a_refused_sign_in_and_a_lockout_read_in_chinese(
    server: ThreadServer, world: World
) -> None:
    guess = {"tenant": world.tenant_a.name, "username": "carol", "password": "not her password"}
    english = login(server, guess)
    assert english.status_code == 401
    assert english.json() == {"detail": "wrong organisation, username or password"}
    chinese = login(server, guess, **ZH)
    assert (chinese.status_code, chinese.json()) == (401, {"detail": "组织、用户名或密码错误"})
    for _ in range(FAILURES):
        locked = login(server, guess, **ZH)
    assert locked.status_code == 429
    assert locked.json() == {"detail": "登录失败次数过多，请稍后再试"}
    assert login(server, guess).json() == {"detail": "too many failed sign-ins: try again later"}


def test_a_wrong_current_password_reads_in_chinese(server: ThreadServer, world: World) -> None:
    with transaction(server.container.sessions) as s:
        bob = s.get(User, world.ids["bob"])
        assert bob is not None
        password_hash = passwords.hash_password("bob's first password")
        web_sessions.set_password_hash(s, bob, password_hash, now=utcnow(), actor_id=None)
    change = {"current_password": "not the password", "new_password": "a new password 123"}
    with world.client("bob") as bob:
        english = bob.post("/v1/me/password", json=change)
        chinese = bob.post("/v1/me/password", json=change, headers=ZH)
    assert english.status_code == chinese.status_code and english.status_code >= 400
    assert english.json() == {"detail": "the current password is wrong"}, english.text
    assert chinese.json() == {"detail": "当前密码错误"}
