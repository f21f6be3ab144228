"""Router construction from settings (no model needed)."""

from __future__ import annotations

import pytest

from core.errors import NotFound
from core.settings import Settings
from core.settings_llm import LlmBackendSettings, LlmSettings
from llm.routing import LlmRouter


def _backend(name: str, model: str = "m") -> LlmBackendSettings:
    return LlmBackendSettings(name=name, base_url="http://127.0.0.1:9/v1", model=model)


def test_backends_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ZHIKU_LLM__BACKENDS",
        '[{"name": "vllm", "base_url": "http://vllm.internal:8000/v1", "model": "qwen"}]',
    )
    monkeypatch.setenv("ZHIKU_LLM__ROUTES", '{"rewrite": ["vllm"]}')
    llm = Settings(environment="test").llm
    assert [b.name for b in llm.backends] == ["vllm"]
    assert llm.backends[0].read_timeout_s == 60.0
    assert llm.routes == {"rewrite": ["vllm"]}


def test_routes_order_backends_and_unlisted_roles_use_all() -> None:
    settings = LlmSettings(backends=[_backend("a"), _backend("b")], routes={"rewrite": ["b", "a"]})
    router = LlmRouter.from_settings(settings, extra_backends=[_backend("local", "tiny")])
    assert [c.name for c in router.backends_for("rewrite")] == ["b", "a"]
    assert [c.name for c in router.backends_for("answer")] == ["a", "b", "local"]
    assert router.models() == ["a", "b", "local"]
    assert [c.name for c in router.backends_for("answer", model="tiny")] == ["local"]
    with pytest.raises(NotFound, match="gpt-9"):
        router.backends_for("answer", model="gpt-9")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (LlmSettings(), "no LLM backend"),
        (LlmSettings(backends=[_backend("a"), _backend("a")]), "duplicate"),
        (LlmSettings(backends=[_backend("a")], routes={"answer": ["x"]}), "unknown"),
    ],
)
def test_bad_configurations_are_refused(settings: LlmSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LlmRouter.from_settings(settings)
