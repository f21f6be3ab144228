"""What the documents page needs from the API, over real HTTP (PostgreSQL, in-process
ingestion): the list searched by name (LIKE wildcards literal), filtered by tag, type and ids,
always tenant- and access-filtered; retrying a failed document; the directory of names."""

from __future__ import annotations

import httpx
import pytest

from tests.api.world import World, upload, wait_terminal
from tests.files import text_pdf
from tests.live import ThreadServer
from tests.support import make_settings

CORRUPT_PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("listing"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def _names(client: httpx.Client, **params: object) -> set[str]:
    r = client.get("/v1/documents", params=params)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["data"])  # every test here fits one page
    return {d["filename"] for d in body["data"]}


def test_search_filters_and_ids(world: World) -> None:
    with world.client("carol") as carol, world.client("bob") as bob:
        r = upload(
            carol,
            [
                ("季度报告.txt", "第三季度的销售额增长了百分之十二。".encode()),
                ("100%_done.md", b"# Done\n\nAll of it."),
                ("100x done.md", b"# Nearly\n\nMost of it."),
                ("plan.pdf", text_pdf(["A plan for the new office in Lisbon."])),
            ],
            tags="财务, q3",
        )
        assert r.status_code == 202, r.text
        docs = {d["filename"]: d for d in r.json()["data"]}
        private = upload(carol, [("diary.txt", b"My own notes.")], tags="personal")
        docs["diary.txt"] = private.json()["data"][0]
        for doc in docs.values():
            assert wait_terminal(carol, doc["id"])["status"] == "ready"

        assert _names(carol, q="季度") == {"季度报告.txt"}
        assert _names(carol, q="PLAN") == {"plan.pdf"}  # case-insensitive
        # % and _ are literal characters, not wildcards.
        assert _names(carol, q="100%_") == {"100%_done.md"}
        assert _names(carol, q="%") == {"100%_done.md"}
        assert _names(carol, q="_") == {"100%_done.md"}
        assert _names(carol, q="0x") == {"100x done.md"}
        assert _names(carol, tag="财务") == set(docs) - {"diary.txt"}
        assert _names(carol, tag="personal") == {"diary.txt"}
        assert _names(carol, tag="财") == set()  # a tag matches whole
        assert _names(carol, type="md") == {"100%_done.md", "100x done.md"}
        assert _names(carol, type="application/pdf") == {"plan.pdf"}
        assert _names(carol, type="md", q="x") == {"100x done.md"}
        assert _names(carol, status="ready", tag="q3", q="plan") == {"plan.pdf"}
        ids = [docs["plan.pdf"]["id"], docs["diary.txt"]["id"]]
        assert _names(carol, id=ids) == {"plan.pdf", "diary.txt"}

        # Another user of the tenant sees none of carol's private documents, whatever the filter.
        assert _names(bob, q="季度") == set()
        assert _names(bob, id=ids) == set()
        assert _names(bob, tag="财务") == set()
        with world.client("zed") as zed:  # nor does another tenant's admin
            assert _names(zed, id=ids) == set()
        with world.client("ann") as ann:  # the tenant's admin does
            assert _names(ann, id=ids) == {"plan.pdf", "diary.txt"}


def test_a_name_is_found_in_either_chinese_script(world: World) -> None:
    """請假 found 請假規定 but 请假 did not, nor 報銷 报销制度: search folds the scripts, the
    list's name search did not."""
    with world.client("bob") as bob:
        r = upload(
            bob,
            [
                ("請假規定.html", "<p>正式員工每年享有特別休假十四天。</p>".encode()),
                ("报销制度.txt", "差旅报销须在出差结束后三十天内提交。".encode()),
                ("Q4 budget.txt", b"The fourth quarter budget."),
            ],
        )
        assert r.status_code == 202, r.text
        for doc in r.json()["data"]:
            assert wait_terminal(bob, doc["id"])["status"] == "ready"
        for q in ("請假", "请假", "请假规定", "請假规定"):
            assert _names(bob, q=q) == {"請假規定.html"}, q
        for q in ("报销", "報銷", "報銷制度"):
            assert _names(bob, q=q) == {"报销制度.txt"}, q
        for q in ("q4", "Ｑ４", "ｑ4 BUDGET"):  # full-width as typed by a Chinese keyboard
            assert _names(bob, q=q) == {"Q4 budget.txt"}, q
        assert _names(bob, q="年假") == set()
    with world.client("carol") as carol:  # still only what the caller may read
        assert _names(carol, q="请假") == set()


def test_a_tag_given_twice_is_kept_once(world: World) -> None:
    """ "公开, 公开，Q3、公开" was kept as three tags 公开 and a Q3."""
    with world.client("carol") as carol:
        r = upload(
            carol,
            [("重复标签.txt", "標籤重複的文件。Tags twice.".encode())],
            tags="公开, 公开，Q3、公开,q3, 公開",
        )
        assert r.status_code == 202, r.text
        doc = r.json()["data"][0]
        assert doc["tags"] == ["公开", "Q3", "q3", "公開"]  # exact duplicates only
        assert wait_terminal(carol, doc["id"])["tags"] == ["公开", "Q3", "q3", "公開"]


def test_a_title_has_no_space_around_it(world: World) -> None:
    """ " 前后空格 .txt" was titled "前后空格 " (the name's stem, its space kept)."""
    with world.client("carol") as carol:
        for name, title in [
            (" 前后空格 .txt", "前后空格"),
            ("報告 （最終版） .md", "報告 （最終版）"),
        ]:
            r = upload(carol, [(name, "標題測試。A title test.".encode())])
            assert r.status_code == 202, r.text
            assert r.json()["data"][0]["title"] == title


def test_list_parameters_are_bounded(world: World) -> None:
    with world.client("carol") as carol:
        assert carol.get("/v1/documents", params={"q": "x" * 201}).status_code == 422
        assert carol.get("/v1/documents", params={"tag": "x" * 101}).status_code == 422
        assert carol.get("/v1/documents", params={"type": "<script>"}).status_code == 422
        assert carol.get("/v1/documents", params={"id": ["a"] * 201}).status_code == 422
        assert carol.get("/v1/documents", params={"id": "bad id!"}).status_code == 422
        assert carol.get("/v1/documents", params={"q": "a\x00b"}).status_code in (400, 422)


def test_a_failed_document_is_retried_by_its_owner_only(world: World) -> None:
    with world.client("carol") as carol, world.client("bob") as bob, world.client("ann") as ann:
        r = upload(carol, [("broken.pdf", CORRUPT_PDF)], access={"everyone": True})
        doc = r.json()["data"][0]
        failed = wait_terminal(carol, doc["id"])
        assert failed["status"] == "failed" and failed["error"]
        assert _names(carol, status="failed", q="broken") == {"broken.pdf"}
        # A reader who does not own it may not retry; another tenant does not find it.
        assert bob.post(f"/v1/documents/{doc['id']}/retry").status_code == 403
        with world.client("zed") as zed:
            assert zed.post(f"/v1/documents/{doc['id']}/retry").status_code == 404
        again = carol.post(f"/v1/documents/{doc['id']}/retry")
        assert again.status_code == 202, again.text
        assert again.json()["status"] == "queued" and again.json()["error"] is None
        # It fails again (the bytes are still broken), and an admin may retry it too.
        assert wait_terminal(carol, doc["id"])["status"] == "failed"
        assert ann.post(f"/v1/documents/{doc['id']}/retry").status_code == 202
        assert wait_terminal(carol, doc["id"])["status"] == "failed"

        fine = upload(carol, [("fine.txt", b"Nothing wrong here.")]).json()["data"][0]
        assert wait_terminal(carol, fine["id"])["status"] == "ready"
        refused = carol.post(f"/v1/documents/{fine['id']}/retry")
        assert refused.status_code == 409 and "failed" in refused.json()["detail"]
        assert carol.post("/v1/documents/no-such-doc/retry").status_code == 404
    assert httpx.post(f"{world.url}/v1/documents/{doc['id']}/retry").status_code == 401


def test_directory_names_users_and_groups_of_the_callers_tenant(world: World) -> None:
    assert httpx.get(f"{world.url}/v1/directory", params={"q": "a"}).status_code == 401
    with world.client("carol") as carol, world.client("zed") as zed:
        found = carol.get("/v1/directory", params={"q": "B"}).json()
        assert [u["name"] for u in found["users"]] == ["bob"]
        assert found["groups"] == []
        found = carol.get("/v1/directory", params={"q": "en"}).json()
        assert found["groups"] == [{"id": world.eng.id, "name": "eng"}]
        assert carol.get("/v1/directory", params={"q": "%"}).json() == {"users": [], "groups": []}
        # By ids: names of an access list; another tenant's ids name nobody.
        by_id = carol.get(
            "/v1/directory", params={"user": [world.ids["bob"]], "group": [world.eng.id]}
        ).json()
        assert by_id["users"] == [{"id": world.ids["bob"], "name": "bob"}]
        assert by_id["groups"] == [{"id": world.eng.id, "name": "eng"}]
        assert zed.get("/v1/directory", params={"q": "b"}).json()["users"] == []
        assert zed.get("/v1/directory", params={"user": [world.ids["bob"]]}).json() == {
            "users": [],
            "groups": [],
        }
        everyone = zed.get("/v1/directory").json()
        assert [u["name"] for u in everyone["users"]] == ["zed"]
        # Bounded.
        assert carol.get("/v1/directory", params={"q": "x" * 201}).status_code == 422
        assert carol.get("/v1/directory", params={"limit": 51}).status_code == 422
        assert carol.get("/v1/directory", params={"user": ["a"] * 101}).status_code == 422
