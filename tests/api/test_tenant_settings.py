"""The organisation's settings over HTTP: admins read and change them (``/v1/admin/tenant/
settings``, documented in OpenAPI, audited), members are refused, another tenant is never
touched, bad values are refused in the caller's language, and uploads that name no access
list follow the default access chosen. Real server, real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.api.world import World, upload
from tests.live import ThreadServer
from tests.support import make_settings

PATH = "/v1/admin/tenant/settings"
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("tenant-settings"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def test_admins_read_and_change_the_settings_and_the_change_is_audited(
    server: ThreadServer,
) -> None:
    world = World(server)
    with world.client("ann") as ann, world.client("zed") as zed:
        defaults = ann.get(PATH).json()
        assert defaults == {
            "display_name": None,
            "default_access": "owner",
            "default_language": None,
            "pii_redaction": None,
            "updated_at": None,
            "updated_by": None,
        }
        r = ann.put(PATH, json={"display_name": "  研发中心 R&D  ", "default_language": "zh-CN"})
        assert r.status_code == 200, r.text
        changed = r.json()
        assert changed["display_name"] == "研发中心 R&D"  # trimmed
        assert changed["default_language"] == "zh-CN"
        assert changed["default_access"] == "owner"  # left out: kept
        assert changed["updated_by"] == world.ids["ann"] and changed["updated_at"]
        # A field left out keeps its value; "" and null go back to the default.
        r = ann.put(PATH, json={"default_access": "everyone"})
        assert r.json()["display_name"] == "研发中心 R&D"
        r = ann.put(PATH, json={"display_name": "", "default_language": None})
        assert (r.json()["display_name"], r.json()["default_language"]) == (None, None)
        assert ann.get(PATH).json()["default_access"] == "everyone"
        # Another tenant's admin sees their own defaults, untouched.
        assert zed.get(PATH).json()["default_access"] == "owner"
        events = ann.get("/v1/audit/events").json()["data"]
        changes = [e for e in events if e["action"] == "tenant.settings"]
        assert len(changes) == 3
        assert changes[0]["details"]["changed"] == {
            "display_name": {"before": "研发中心 R&D", "after": None},
            "default_language": {"before": "zh-CN", "after": None},
        }
        assert changes[0]["actor_id"] == world.ids["ann"]
        # Saving the same values again records nothing.
        ann.put(PATH, json={"default_access": "everyone"})
        again = ann.get("/v1/audit/events").json()["data"]
        assert len([e for e in again if e["action"] == "tenant.settings"]) == 3


def test_members_are_refused_and_bad_values_are_explained(server: ThreadServer) -> None:
    world = World(server)
    with world.client("bob") as bob:
        for method in ("GET", "PUT"):
            r = bob.request(method, PATH, json={"display_name": "mine"}, headers=ZH)
            assert r.status_code == 403 and r.json()["detail"] == "只有租户管理员可以执行此操作"
        assert bob.get(PATH).json()["detail"] == "only a tenant admin may do this"
    with world.client("ann") as ann:
        cases = [
            ({"display_name": "x" * 201}, "string_too_long", "最多 200 个字符"),
            ({"default_access": "friends"}, "literal_error", "应为 'owner' 或 'everyone' 之一"),
            ({"default_language": "fr"}, "literal_error", "应为 'zh-CN' 或 'en' 之一"),
            ({"display_name": "名\u202e字"}, "value_error", "不能包含控制字符或格式字符"),
            ({"theme": "dark"}, "extra_forbidden", "不允许额外的字段"),
        ]
        for body, kind, chinese in cases:
            zh = ann.put(PATH, json=body, headers=ZH)
            assert zh.status_code == 422, zh.text
            error = zh.json()["detail"][0]
            assert (error["type"], error["msg"]) == (kind, chinese), error
            en = ann.put(PATH, json=body).json()["detail"][0]
            assert en["type"] == kind and en["msg"] != chinese
        assert ann.get(PATH).json()["display_name"] is None  # nothing was stored


def test_uploads_without_an_access_list_follow_the_default(server: ThreadServer) -> None:
    world = World(server)
    with world.client("ann") as ann, world.client("bob") as bob, world.client("carol") as carol:
        r = upload(bob, [("before.txt", b"Private by default.")])
        assert r.status_code == 202, r.text
        assert ann.put(PATH, json={"default_access": "everyone"}).status_code == 200
        r = upload(bob, [("公告.txt", "全员可读。".encode())])
        assert r.status_code == 202, r.text
        explicit = upload(bob, [("mine.txt", b"Only bob.")], access={"users": [world.ids["bob"]]})
        assert explicit.status_code == 202, explicit.text
        seen = sorted(d["filename"] for d in carol.get("/v1/documents").json()["data"])
        assert seen == ["公告.txt"]
        # Back to the uploader alone: the next upload is private again.
        assert ann.put(PATH, json={"default_access": "owner"}).status_code == 200
        upload(bob, [("after.txt", b"Private again.")])
        seen = sorted(d["filename"] for d in carol.get("/v1/documents").json()["data"])
        assert seen == ["公告.txt"]


def test_the_routes_are_documented(server: ThreadServer) -> None:
    world = World(server)
    with world.client("ann") as ann:
        spec = ann.get("/openapi.json").json()
    operations = spec["paths"][PATH]
    assert operations["get"]["operationId"] == "admin-tenant-settings-get"
    assert operations["put"]["operationId"] == "admin-tenant-settings-update"
    assert "default_access" in operations["put"]["description"] + str(
        spec["components"]["schemas"]["TenantSettingsUpdate"]
    )
