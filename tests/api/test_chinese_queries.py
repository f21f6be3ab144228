"""Chinese queries as users type them, over real HTTP on PostgreSQL: a Traditional question
finds a Simplified document and the reverse, full-width digits and letters, English run into
Chinese without spaces; through /v1/search, /v1/chat and /v1/chat/completions (the passages
they answer from), the answers coming from the real llama.cpp server."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from core.db.models import AnswerRecord
from core.db.session import transaction
from llm.local_server import LlamaCppServer
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.support import make_settings

DOCS = {
    # Written in Traditional Chinese (Taiwan/Hong Kong).
    "backup-zh-hant.txt": "雲端備份服務\n\n本公司的雲端備份服務每天凌晨三點自動備份資料庫，"
    "並保留最近三十天的快照；還原請求須經過資訊安全部門審核。",
    # Written in Simplified Chinese.
    "travel-zh-hans.txt": "差旅报销制度\n\n员工出差结束后，须在十五个工作日内提交差旅费用报销申请，"
    "并附上发票原件；超过期限的申请由财务部门退回。",
    # Simplified, quoting an English product name with its model number.
    "phones-zh-hans.txt": "手机采购计划\n\n2027 年公司计划采购 iPhone 15 手机 120 台，"
    "单台预算 5999 元，由行政部统一发放给销售团队。",
    "etna.txt": "Mount Etna\n\nMount Etna is a volcano on the east coast of Sicily. In 1886 its "
    "lava flows reached the town of Nicolosi.",
}
# Each question, in the other script or form than its document, and the file it must find.
# Written as two scripts would have it, the cross-script ones share no word with their file.
QUESTIONS = [
    ("雲端備份", "backup-zh-hant.txt"),  # Traditional, as the document is
    ("云端备份服务几点备份资料库？", "backup-zh-hant.txt"),  # Simplified question
    ("報銷申請要附發票嗎？", "travel-zh-hans.txt"),  # Traditional question
    ("２０２７年採購多少台手機？", "phones-zh-hans.txt"),  # full-width digits, Traditional
    ("iPhone15的单台预算是多少", "phones-zh-hans.txt"),  # no spaces, English run into Chinese
    ("ｉＰｈｏｎｅ　１５ 單台預算", "phones-zh-hans.txt"),  # full-width letters and space
]
# Short contexts and answers keep CPU prompts fast; the passages are what is under test.
RETRIEVAL = {"context_tokens": 300, "max_passages": 2}
ANSWER_TOKENS = 24


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    backend = llama_server.backend_settings(name="local", read_timeout_s=180)
    settings = make_settings(
        tmp_path_factory.mktemp("chinese-queries"),
        database={"url": pg_url},
        llm={
            "backends": [backend.model_copy(update={"max_tokens": ANSWER_TOKENS})],
            "local": {"enabled": False},
        },
        retrieval=RETRIEVAL,
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return seeded_world(server, DOCS)


def answering_client(world: World, who: str) -> httpx.Client:
    """A client that waits for a whole answer: a CPU prompt on a busy machine can pass the
    60 s the plain one allows."""
    headers = {"Authorization": f"Bearer {world.keys[who]}"}
    return httpx.Client(base_url=world.url, headers=headers, timeout=300)


def search(client: httpx.Client, query: str) -> dict:
    r = client.post("/v1/search", json={"query": query, "limit": 3})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("question", "filename"), QUESTIONS)
def test_search_finds_the_document_across_scripts_and_forms(
    world: World, question: str, filename: str
) -> None:
    with world.client("bob") as bob:
        body = search(bob, question)
    assert body["language"] == "zh"
    assert body["results"], body
    assert body["results"][0]["filename"] == filename, body["results"]


def test_each_script_finds_both_documents_with_one_question(world: World) -> None:
    # One question written in each script, about both Chinese documents at once.
    with world.client("bob") as bob:
        for question in ["雲端備份與差旅報銷", "云端备份与差旅报销"]:
            found = {hit["filename"] for hit in search(bob, question)["results"]}
            assert {"backup-zh-hant.txt", "travel-zh-hans.txt"} <= found, (question, found)


def test_english_search_is_unchanged(world: World) -> None:
    with world.client("bob") as bob:
        body = search(bob, "When did lava reach Nicolosi?")
    assert body["language"] == "en" and body["results"][0]["filename"] == "etna.txt"


@pytest.mark.slow
@pytest.mark.parametrize(("question", "filename"), [QUESTIONS[1], QUESTIONS[4]])
def test_chat_answers_from_the_document_across_scripts(
    world: World, question: str, filename: str
) -> None:
    with answering_client(world, "bob") as bob:
        r = bob.post("/v1/chat", json={"message": question, "stream": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sources"], body
    assert body["sources"][0]["document_id"] == world.doc_ids[filename]  # type: ignore[attr-defined]
    assert body["outcome"] in ("ok", "declined") and body["answer"].strip()


@pytest.mark.slow
@pytest.mark.parametrize(("question", "filename"), [QUESTIONS[2], QUESTIONS[3]])
def test_chat_completions_answer_from_the_document_across_scripts(
    server: ThreadServer, world: World, question: str, filename: str
) -> None:
    with answering_client(world, "carol") as carol:
        r = carol.post(
            "/v1/chat/completions",
            json={
                "model": "zhiku",
                "messages": [{"role": "user", "content": question}],
                "max_tokens": ANSWER_TOKENS,
            },
        )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"].strip()
    # The passages the model was given, best first, as the audit trail recorded them.
    with transaction(server.container.sessions) as session:
        record = session.scalars(
            select(AnswerRecord)
            .where(AnswerRecord.user_id == world.ids["carol"])
            .order_by(AnswerRecord.created_at.desc())
        ).first()
        assert record is not None and record.endpoint == "chat.completions"
        assert record.question == question
        assert record.retrieved[0]["doc_id"] == world.doc_ids[filename]  # type: ignore[attr-defined]
