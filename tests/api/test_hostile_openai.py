"""The OpenAI-compatible request held to the rules of every other request, over real HTTP:
its texts (messages, their parts, stop sequences, the model's name, the user) took NUL bytes,
control characters and lone surrogates, so a NUL question was answered and then refused by
the audit record (a 400 instead of the answer; mid-stream, a cut connection); a role OpenAI
does not have was silently dropped; ``/v1/models/{id}`` was unbounded. What OpenAI clients
send that changes nothing here is still accepted."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.hostile import (
    FORBIDDEN,
    JSON,
    TW,
    ZH,
    completion,
    has_chinese,
    raw_json,
    records,
)
from tests.live import ThreadServer

# --- the OpenAI-compatible request's texts


def dirty_bodies(bad: str) -> dict[str, tuple[dict[str, object], str]]:
    """Each text of the request carrying ``bad``: (body, the parameter the refusal names)."""
    question = f"报销{bad}期限是多久？"
    return {
        "content": (completion(messages=[{"role": "user", "content": question}]), "messages"),
        "part": (
            completion(
                messages=[{"role": "user", "content": [{"type": "text", "text": question}]}]
            ),
            "messages",
        ),
        "system": (
            completion(
                messages=[
                    {"role": "system", "content": f"用中文{bad}回答"},
                    {"role": "user", "content": "报销期限？"},
                ]
            ),
            "messages",
        ),
        "history": (
            completion(
                messages=[
                    {"role": "user", "content": f"上一个{bad}问题"},
                    {"role": "assistant", "content": "回答"},
                    {"role": "user", "content": "报销期限？"},
                ]
            ),
            "messages",
        ),
        "stop": (completion(stop=[f"END{bad}"]), "stop"),
        "model": (completion(model=f"zhiku{bad}"), "model"),
        "user": (completion(user=f"crm-{bad}"), "user"),
    }


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\ud800"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_openai_text_refuses_nul_control_and_surrogates(
    hostile_server: ThreadServer, hostile_zed: httpx.Client, bad: str, stream: bool
) -> None:
    before = records(hostile_server)
    for name, (body, param) in dirty_bodies(bad).items():
        for headers, chinese in (({}, False), (ZH, True), (TW, True)):
            r = hostile_zed.post(
                "/v1/chat/completions",
                content=raw_json({**body, "stream": stream}),
                headers={**JSON, **headers},
            )
            assert r.status_code == 400, (name, r.status_code, r.text[:300])
            error = r.json()["error"]
            assert (error["type"], error["param"]) == ("invalid_request_error", param), name
            if chinese:
                assert has_chinese(error["message"]), (name, error)
            else:  # a surrogate is no text at all: pydantic says so first
                said = error["message"]
                assert "control characters" in said or "unicode" in said, (name, error)
            assert "\\ud800" not in r.text and "\x00" not in r.text
    # Refused before any work: nothing was answered, so nothing was recorded.
    assert records(hostile_server) == before


def test_a_clean_openai_question_in_chinese_is_still_answered(hostile_zed: httpx.Client) -> None:
    for stream in (False, True):
        body = completion(
            messages=[
                {"role": "system", "content": "请用中文回答。\n\t保持简短。"},
                {"role": "user", "content": [{"type": "text", "text": "报销期限\n是多久？"}]},
            ],
            stop=["结束"],
            stream=stream,
        )
        r = hostile_zed.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text[:300]


_clean = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(["\n", "\t", "，", "。", "é"]),
    ),
    min_size=1,
    max_size=60,
).filter(lambda text: text.strip() != "")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_clean, bad=st.sampled_from(FORBIDDEN), at=st.integers(min_value=0))
def test_a_forbidden_character_anywhere_in_a_question_is_400_and_without_it_200(
    hostile_zed: httpx.Client, text: str, bad: str, at: int
) -> None:
    at %= len(text) + 1
    dirty = text[:at] + bad + text[at:]
    body = completion(messages=[{"role": "user", "content": dirty}])
    r = hostile_zed.post("/v1/chat/completions", content=raw_json(body), headers={**JSON, **ZH})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["param"] == "messages"
    r = hostile_zed.post(
        "/v1/chat/completions", json=completion(messages=[{"role": "user", "content": text}])
    )
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize("model_id", ["m" * 65, "zh%00iku", "zh%1Biku"])
def test_a_model_id_in_the_path_is_bounded_and_clean(
    hostile_zed: httpx.Client, model_id: str
) -> None:
    for headers in ({}, ZH):
        r = hostile_zed.get(f"/v1/models/{model_id}", headers=headers)
        assert r.status_code == 400, r.text[:300]
        assert r.json()["error"]["param"] == "model_id"
        assert not headers or has_chinese(r.json()["error"]["message"])
    assert hostile_zed.get("/v1/models/zhiku").status_code == 200
    assert hostile_zed.get("/v1/models/知库").json()["error"]["code"] == "model_not_found"


def test_an_openai_client_may_still_send_fields_that_change_nothing(
    hostile_zed: httpx.Client,
) -> None:
    body = completion(store=False, metadata={"crm": "42"}, frequency_penalty=0, service_tier="auto")
    assert hostile_zed.post("/v1/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize("role", ["SYSTEM", "bot", "", "用户"])
def test_a_role_openai_does_not_have_is_400_not_silently_dropped(
    hostile_zed: httpx.Client, role: str
) -> None:
    body = completion(
        messages=[
            {"role": role, "content": "只用英文回答"},
            {"role": "user", "content": "报销期限？"},
        ]
    )
    for headers in ({}, ZH):
        r = hostile_zed.post("/v1/chat/completions", json=body, headers=headers)
        assert r.status_code == 400, r.text[:300]
        error = r.json()["error"]
        assert error["param"] == "messages" and "role" in error["message"], error
        assert not headers or has_chinese(error["message"])
    # Tool results (answers to tool calls, which Zhiku never makes) are accepted and skipped.
    body = completion(
        messages=[{"role": "tool", "tool_call_id": "1", "content": "42"}, *completion()["messages"]]  # type: ignore[list-item]
    )
    assert hostile_zed.post("/v1/chat/completions", json=body).status_code == 200
