"""A follow-up written alike in both scripts ("那病假呢？") is answered in the conversation's
script: a Traditional conversation was answered in Simplified from its first such follow-up on,
since the answer's script was read from the follow-up alone, which holds no character that
tells. Over real HTTP, on /v1/chat (the stored conversation) and /v1/chat/completions (the
client's history); "nothing found" is said without asking the model, so no model is needed
here (the rewriter is down: the follow-up is searched with the previous question)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from llm.reply_language import no_passages, reply_language
from tests.api.test_chat import llm_settings
from tests.api.world import World
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

NEUTRAL_FOLLOW_UP = "那病假呢？"  # no character differs between the two scripts


@pytest.fixture(scope="module")
def world(pg_url, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("follow-up-script"),
        database={"url": pg_url},
        llm=llm_settings(dead_backend("down")),
    )
    with ThreadServer(settings) as server:
        yield World(server)


@pytest.fixture
def zed(world: World) -> Iterator[httpx.Client]:
    """Tenant B's admin: nothing to read, so every question is answered "nothing found"."""
    with world.client("zed") as client:
        yield client


def _ask(client: httpx.Client, message: str, conversation_id: str | None = None) -> dict:
    body: dict[str, object] = {"message": message, "stream": False}
    if conversation_id:
        body["conversation_id"] = conversation_id
    r = client.post("/v1/chat", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "no_context"
    return r.json()


@pytest.mark.parametrize(
    ("first", "language"),
    [("特別休假有幾天？", "zh-Hant"), ("特别休假有几天？", "zh-Hans")],
)
def test_a_neutral_follow_up_keeps_the_conversations_script(
    zed: httpx.Client, first: str, language: str
) -> None:
    opened = _ask(zed, first)
    assert opened["answer"] == no_passages(language)
    follow_up = _ask(zed, NEUTRAL_FOLLOW_UP, opened["conversation_id"])
    assert follow_up["answer"] == no_passages(language)
    # A follow-up that does tell its script is answered in its own.
    other = "zh-Hans" if language == "zh-Hant" else "zh-Hant"
    switched = "病假怎么算？" if other == "zh-Hans" else "病假怎麼算？"
    assert _ask(zed, switched, opened["conversation_id"])["answer"] == no_passages(other)


def test_an_english_conversation_does_not_make_a_chinese_follow_up_english(
    zed: httpx.Client,
) -> None:
    opened = _ask(zed, "How many days of annual leave?")
    assert opened["answer"] == no_passages("en")
    follow_up = _ask(zed, NEUTRAL_FOLLOW_UP, opened["conversation_id"])
    assert follow_up["answer"] == no_passages("zh-Hans")


def test_a_neutral_follow_up_over_the_openai_api_keeps_the_histories_script(
    zed: httpx.Client,
) -> None:
    history = [
        {"role": "user", "content": "特別休假有幾天？"},
        {"role": "assistant", "content": no_passages("zh-Hant")},
        {"role": "user", "content": NEUTRAL_FOLLOW_UP},
    ]
    r = zed.post("/v1/chat/completions", json={"model": "zhiku", "messages": history})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == no_passages("zh-Hant")


@pytest.mark.parametrize(
    ("question", "earlier", "expected"),
    [
        (NEUTRAL_FOLLOW_UP, [], "zh-Hans"),
        (NEUTRAL_FOLLOW_UP, ["特別休假有幾天？"], "zh-Hant"),
        (NEUTRAL_FOLLOW_UP, ["特別休假有幾天？", "How about sick leave?"], "zh-Hant"),
        (NEUTRAL_FOLLOW_UP, ["特別休假有幾天？", "年假有几天？"], "zh-Hans"),
        ("年假有几天？", ["特別休假有幾天？"], "zh-Hans"),
        ("What about sick leave?", ["特別休假有幾天？"], "en"),
    ],
)
def test_the_reply_language_reads_the_latest_question_that_tells(
    question: str, earlier: list[str], expected: str
) -> None:
    assert reply_language(question, earlier) == expected
