"""Personal-data redaction through the real API: an admin chooses the tenant's mode (audited,
bad values explained in Chinese); with ``ingest`` the chunks are masked before they are kept
and embedded (search still finds the document, its snippets and passages carry no numbers,
another tenant's uploads are untouched, an identical file indexed earlier is not reused); with
``answers`` the index keeps the text and what is served is masked: search results, passages,
and an answer streamed by a real llama.cpp server. Real server, PostgreSQL, Qdrant, models."""

from __future__ import annotations

import httpx
import pytest

from core import pii
from llm.local_server import LlamaCppServer
from tests.api.test_chat import RETRIEVAL, ask, llm_settings
from tests.api.world import World, chunks_of, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

PATH = "/v1/admin/tenant/settings"
CARD = "6222020200001234" + pii.luhn_check_digit("6222020200001234")
ID = "11010519491231002X"
PERSONAL = (ID, "138 1234 5678", "zhang.san@example.com", CARD[:8], "7946 0958")
ZH_DOC = (
    "客户档案\n\n客户张三负责华东区的冷链物流项目。张三的身份证号码是 11010519491231002X，"
    "手机 138 1234 5678，邮箱 zhang.san@example.com，工资卡号 "
    f"{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}。"
)
EN_DOC = (
    "Customer file\n\nJohn Smith manages the Lisbon cold-storage warehouse. His phone is "
    "+44 20 7946 0958 and his e-mail is zhang.san@example.com."
)

TW_DOC = (
    "客戶檔案\n\n陳大文負責台北與香港的冷鏈倉儲。聯絡電話：0912-345-678，"
    "香港電話 9123 4567，辦公室 (02) 2345-6789。"
)


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    backend = llama_server.backend_settings(name="local", read_timeout_s=180)
    settings = make_settings(
        tmp_path_factory.mktemp("pii"),
        database={"url": pg_url},
        llm=llm_settings(backend),
        retrieval=RETRIEVAL,
    )
    with ThreadServer(settings) as srv:
        yield srv


def uploaded(client: httpx.Client, files: dict[str, str]) -> dict[str, str]:
    r = upload(client, [(name, text.encode()) for name, text in files.items()])
    assert r.status_code == 202, r.text
    ids = {d["filename"]: d["id"] for d in r.json()["data"]}
    for doc_id in ids.values():
        assert wait_terminal(client, doc_id)["status"] == "ready"
    return ids


def holds_personal_data(text: str) -> bool:
    return any(p in text for p in PERSONAL) or bool(pii.find(text))


def set_mode(client: httpx.Client, mode: str | None) -> None:
    r = client.put(PATH, json={"pii_redaction": mode})
    assert r.status_code == 200, r.text
    assert r.json()["pii_redaction"] == mode


def test_ingest_masks_chunks_before_they_are_kept(server: ThreadServer) -> None:
    world = World(server)
    with world.client("ann") as ann, world.client("bob") as bob, world.client("zed") as zed:
        bad = ann.put(
            PATH, json={"pii_redaction": "everything"}, headers={"Accept-Language": "zh-CN"}
        )
        assert bad.status_code == 422 and "'both'" in bad.json()["detail"][0]["msg"]
        assert bad.json()["detail"][0]["msg"].startswith("应为")
        assert ann.get(PATH).json()["pii_redaction"] is None  # the deployment's default: off
        earlier = uploaded(bob, {"earlier.txt": ZH_DOC})["earlier.txt"]
        set_mode(ann, "ingest")
        events = ann.get("/v1/audit/events").json()["data"]
        change = next(e for e in events if e["action"] == "tenant.settings")
        assert change["details"]["changed"] == {
            "pii_redaction": {"before": None, "after": "ingest"}
        }
        # The same bytes again: not the earlier copy's chunks (indexed unmasked) reused.
        ids = uploaded(bob, {"客户.txt": ZH_DOC, "customer.txt": EN_DOC})
        other = uploaded(zed, {"客户.txt": ZH_DOC})["客户.txt"]

        masked = [
            p.payload["text"] for d in ids.values() for p in chunks_of(server, world.tenant_a.id, d)
        ]
        assert masked and not any(holds_personal_data(t) for t in masked), masked
        joined = "".join(masked)
        for token in (
            "[身份证号]",
            "[手机号]",
            "[邮箱]",
            "[银行卡号]",
            "[phone number]",
            "[email]",
        ):
            assert token in joined, joined
        # Not retroactive: the earlier upload keeps its text until it is uploaded again.
        kept = chunks_of(server, world.tenant_a.id, earlier)
        assert any(ID in p.payload["text"] for p in kept)
        # Another tenant, on the default, keeps its numbers.
        theirs = chunks_of(server, world.tenant_b.id, other)
        assert any("138 1234 5678" in p.payload["text"] for p in theirs)

        found = []
        for query in ("张三负责什么项目？", "Who manages the Lisbon warehouse?"):
            r = bob.post("/v1/search", json={"query": query, "limit": 10})
            assert r.status_code == 200, r.text
            hits = [h for h in r.json()["results"] if h["document_id"] in ids.values()]
            assert hits, r.json()
            assert not any(holds_personal_data(h["text"]) for h in hits), hits
            found += hits
        chinese = next(h for h in found if h["document_id"] == ids["客户.txt"])
        passage = bob.get(f"/v1/documents/{ids['客户.txt']}/passages/{chinese['chunk_id']}")
        assert passage.status_code == 200 and "[身份证号]" in passage.json()["text"]
        assert not holds_personal_data(passage.json()["text"])


def test_a_traditional_documents_taiwan_and_hong_kong_numbers_are_masked(
    server: ThreadServer,
) -> None:
    world = World(server)
    with world.client("ann") as ann:
        set_mode(ann, "ingest")
        doc = uploaded(ann, {"客戶.txt": TW_DOC})["客戶.txt"]
        kept = "".join(p.payload["text"] for p in chunks_of(server, world.tenant_a.id, doc))
        # Tokens in the document's own script, and none of the three numbers left.
        assert "[手機號]" in kept and kept.count("[電話號碼]") == 2, kept
        assert not any(n in kept for n in ("0912", "9123", "2345")), kept
        r = ann.post("/v1/search", json={"query": "陳大文負責什麼？", "limit": 5})
        hits = [h["text"] for h in r.json()["results"] if h["document_id"] == doc]
        assert hits and not any(holds_personal_data(h) for h in hits), r.json()


@pytest.mark.slow
def test_answers_mode_masks_what_is_served_and_the_streamed_answer(server: ThreadServer) -> None:
    world = World(server)
    with world.client("ann") as ann, world.client("bob") as bob:
        set_mode(ann, "answers")
        ids = uploaded(bob, {"客户.txt": ZH_DOC, "customer.txt": EN_DOC})
        # The index keeps the text as written.
        kept = chunks_of(server, world.tenant_a.id, ids["客户.txt"])
        assert any("138 1234 5678" in p.payload["text"] for p in kept)

        r = bob.post("/v1/search", json={"query": "张三的手机和邮箱", "limit": 10})
        hits = [h for h in r.json()["results"] if h["document_id"] == ids["客户.txt"]]
        assert hits and "[手机号]" in "".join(h["text"] for h in hits), hits
        assert not any(holds_personal_data(h["text"]) for h in hits)
        passage = bob.get(f"/v1/documents/{ids['客户.txt']}/passages/{hits[0]['chunk_id']}")
        assert passage.status_code == 200 and "[手机号]" in passage.json()["text"]
        assert not holds_personal_data(passage.json()["text"])

        bob.timeout = httpx.Timeout(300)  # a CPU answer on a busy machine
        events = ask(bob, "张三的手机号码是多少？")
        answer = "".join(d["text"] for e, d in events if e == "token")
        sources = dict(events)["sources"]["sources"]
        assert any("[手机号]" in s["excerpt"] for s in sources), sources
        assert not any(holds_personal_data(s["excerpt"]) for s in sources)
        outcome = dict(events)["done"]["outcome"]
        assert outcome in ("ok", "declined"), events
        assert not holds_personal_data(answer), answer
        if outcome == "ok":  # it answered from the passage: the number it wrote is masked
            assert "[手机号]" in answer or "[电话号码]" in answer, answer
        digits = "".join(ch for ch in answer if ch.isdigit())
        assert "12345678" not in digits and "1949123" not in digits, answer
        # What the conversation keeps is what was shown.
        conversation = bob.get(f"/v1/conversations/{dict(events)['meta']['conversation_id']}")
        assert conversation.json()["messages"][1]["content"] == answer.strip()
