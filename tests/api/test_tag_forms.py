"""A tag filter matches a tag in either Chinese script and either width, as the name search
does (``core.db.name_match``): a document tagged 公开 was not found by the filter 公開, nor one
tagged VIP by ＶＩＰ. Both places a tag filters apply: the document list (SQLite and PostgreSQL)
and /v1/search's filters (the vector store), where the permission filter still applies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

# (file, text, its tag as written, filters that must find it)
TAGGED = [
    ("公开制度.txt", "公司年假制度：员工每年享有十五天带薪年假。", "公开", ["公开", "公開"]),
    ("內部規定.txt", "公司年假規定：請假須提前三天向主管申請。", "內部", ["內部", "内部"]),
    ("vip-leave.txt", "Annual leave policy for VIP customers support staff.", "VIP", ["ＶＩＰ"]),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    database = {"url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    settings = make_settings(tmp_path_factory.mktemp(f"tags-{request.param}"), database=database)
    with ThreadServer(settings) as server:
        live = World(server)
        with live.client("ann") as ann, live.client("carol") as carol:
            ids = {}
            for name, text, tag, _ in TAGGED:
                r = upload(ann, [(name, text.encode())], access={"everyone": True}, tags=tag)
                assert r.status_code == 202, r.text
                ids[name] = r.json()["data"][0]["id"]
            # carol's own, tagged alike: a tag filter never shows it to anyone else.
            secret = "carol-年假.txt", "年假 annual leave VIP 公开 carol only".encode()
            r = upload(carol, [secret], access={"users": [live.ids["carol"]]}, tags="公开, VIP")
            ids[secret[0]] = r.json()["data"][0]["id"]
            for doc_id in ids.values():
                assert wait_terminal(ann, doc_id)["status"] == "ready"
        live.doc_ids = ids  # type: ignore[attr-defined]
        yield live


def _listed(client: httpx.Client, tag: str) -> set[str]:
    r = client.get("/v1/documents", params={"tag": tag, "limit": 100})
    assert r.status_code == 200, r.text
    return {d["filename"] for d in r.json()["data"]}


def _searched(client: httpx.Client, query: str, tag: str) -> set[str]:
    r = client.post("/v1/search", json={"query": query, "limit": 50, "filters": {"tags": [tag]}})
    assert r.status_code == 200, r.text
    return {hit["filename"] for hit in r.json()["results"]}


@pytest.mark.parametrize(("name", "text", "tag", "filters"), TAGGED)
def test_a_tag_filter_finds_either_script_and_width(
    world: World, name: str, text: str, tag: str, filters: list[str]
) -> None:
    with world.client("bob") as bob:
        for wanted in filters:
            assert _listed(bob, wanted) == {name}, wanted
            assert _searched(bob, text, wanted) == {name}, wanted


def test_carols_document_stays_hers_whatever_the_tags_form(world: World) -> None:
    with world.client("bob") as bob, world.client("carol") as carol:
        for tag in ("公開", "ＶＩＰ"):
            assert "carol-年假.txt" not in _listed(bob, tag)
            assert "carol-年假.txt" not in _searched(bob, "年假 annual leave", tag)
            assert "carol-年假.txt" in _listed(carol, tag)
            assert "carol-年假.txt" in _searched(carol, "年假 annual leave VIP 公开", tag)
