"""Chinese questions over real HTTP, answered by the real llama.cpp server: a cited Chinese
answer and a refusal in the question's own script (Simplified or Traditional), on /v1/chat and
/v1/chat/completions; "nothing found" in Chinese without asking the model."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from llm.local_server import LlamaCppServer
from llm.reply_language import no_passages, refusal
from tests.api.test_chat import ask, llm_settings
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.support import make_settings

DOCS = {
    "员工手册.txt": "员工手册（上海公司）\n\n年假：员工入职满一年后享有15天带薪年假，"
    "未休年假可顺延至次年3月31日。",
    "净化器说明书.txt": "清风X5空气净化器使用说明书\n\n滤网更换：HEPA滤网建议每3个月更换一次；"
    "指示灯变为橙色时，说明滤网需要更换。",
    "台北手冊.txt": "員工手冊（台北分公司）\n\n伙食津貼：每位員工每月發給伙食津貼新台幣2,400元，"
    "隨薪資發放。",
}
RETRIEVAL = {"context_tokens": 400, "max_passages": 3}
# A Chinese answer's first sentence is held until it cannot be a refusal (llm.attribution), so
# on a loaded 2-core machine the first byte after the sources may take longer than a minute.
PATIENCE = httpx.Timeout(300.0)
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("chat-zh"),
        database={"url": pg_url},
        llm=llm_settings(llama_server.backend_settings(name="local", read_timeout_s=180)),
        retrieval=RETRIEVAL,
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return seeded_world(server, DOCS)


@pytest.mark.slow
def test_a_chinese_question_gets_a_cited_chinese_answer_over_chat(world: World) -> None:
    with world.client("bob") as bob:
        bob.timeout = PATIENCE
        events = ask(bob, "HEPA滤网多久更换一次？")
    answer = "".join(d["text"] for e, d in events if e == "token")
    assert "3" in answer and HAN.search(answer), answer
    citations = dict(events)["citations"]["citations"]
    purifier = world.doc_ids["净化器说明书.txt"]  # type: ignore[attr-defined]
    assert purifier in [c["document_id"] for c in citations], (answer, citations)
    assert all(f"[{c['number']}]" in answer for c in citations), answer
    assert dict(events)["done"]["outcome"] == "ok"


@pytest.mark.slow
def test_a_chinese_question_without_an_answer_is_refused_in_chinese_over_chat(
    world: World,
) -> None:
    with world.client("bob") as bob:
        bob.timeout = PATIENCE
        r = bob.post("/v1/chat", json={"message": "公司的股票代码是什么？", "stream": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "declined", body["answer"]
    assert body["answer"] == refusal("zh-Hans") and body["citations"] == []


@pytest.mark.slow
def test_chinese_over_the_openai_api_cited_and_refused_in_its_script(
    server: ThreadServer, world: World
) -> None:
    client = openai.OpenAI(
        base_url=server.url + "/v1", api_key=world.keys["bob"], max_retries=0, timeout=300.0
    )
    asked = [{"role": "user", "content": "員工每月的伙食津貼是多少？"}]
    pieces, citations = [], None
    for chunk in client.chat.completions.create(model="zhiku", messages=asked, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.model_extra.get("citations") is not None:
            citations = chunk.model_extra["citations"]
    text = "".join(pieces)
    assert "2400" in text.replace(",", "") and HAN.search(text), text
    taipei = world.doc_ids["台北手冊.txt"]  # type: ignore[attr-defined]
    assert citations and taipei in [c["document_id"] for c in citations], (text, citations)

    # A Traditional-Chinese question with no answer: refused in Traditional characters.
    declined = client.chat.completions.create(
        model="zhiku", messages=[{"role": "user", "content": "公司的股票代碼是什麼？"}]
    )
    assert declined.choices[0].message.content == refusal("zh-Hant")
    assert declined.model_extra["citations"] == []


def test_nothing_readable_is_said_in_the_questions_language(world: World) -> None:
    with world.client("zed") as zed:  # another tenant, no documents: the model is not asked
        for question, language in [
            ("年假有几天？", "zh-Hans"),
            ("伙食津貼是多少？", "zh-Hant"),
            ("How many days of leave?", "en"),
        ]:
            r = zed.post("/v1/chat", json={"message": question, "stream": False})
            assert r.status_code == 200, r.text
            assert r.json()["outcome"] == "no_context"
            assert r.json()["answer"] == no_passages(language)
