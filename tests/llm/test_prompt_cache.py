"""The first token sooner on the embedded model (issue 12): the warm-up leaves the answer
prompt's fixed start in the real llama.cpp server's cache, so the next question evaluates only
its own passages and question (the server's own timings say how many tokens it reused and
evaluated), and measures the prompt speed the passage budget is sized to."""

from __future__ import annotations

from pathlib import Path

from core.settings_llm import LlmBackendSettings
from llm import prompts
from llm.local_server import LlamaCppServer, PromptEval
from llm.runtime import (
    CALIBRATION_TEXTS,
    MIN_MEASURED_TOKENS,
    AnswerModels,
    PromptSpeed,
    smoothed_speed,
    warm_up,
)
from tests.support import make_settings

PASSAGES_EN = [
    "Warranty\nThe AquaPure 300 is covered by a two-year warranty from the date of purchase. "
    "Cartridges are consumables and are not covered.",
    "Cleaning\nWipe the housing with a damp cloth. Do not use solvents.",
]
PASSAGES_ZH = [
    "保修说明\n整机保修期为一年，电机保修三年。滤网属于耗材，不在保修范围内。",
    "適用面積\n本產品適用面積為20至35平方米，睡眠模式下噪音低於25分貝。",
]


def fixed_start_tokens(server: LlamaCppServer) -> int:
    """The tokens two answer prompts share before their passages: the rules and examples."""
    first = prompts.answer_messages("Q?", ["A."])
    rules = "".join(m["content"] for m in first[:-1])
    return server.count_tokens(rules)


def test_warm_up_caches_the_fixed_start_and_measures_the_prompt_speed(
    llama_server: LlamaCppServer, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    speed = warm_up(llama_server, settings)
    assert speed is not None
    assert speed.tokens_per_s > 0
    assert speed.target_s == settings.llm.local.first_token_target_s
    assert set(speed.calibration) == {"en", "zh"} and min(speed.calibration.values()) > 10

    # An English question, then a Chinese one (Traditional passage included): each reuses the
    # rules and examples from the cache and evaluates only what follows them.
    shared = fixed_start_tokens(llama_server)
    for question, passages in (
        ("How long is the warranty?", PASSAGES_EN),
        ("整机保修期是多久？", PASSAGES_ZH),
    ):
        total = llama_server.complete(prompts.answer_messages(question, passages))
        timing = llama_server.new_prompt_evals()[-1]
        assert timing.cached_tokens >= shared * 0.9, (timing, shared)
        assert timing.cached_tokens + timing.evaluated_tokens == total
        assert timing.evaluated_tokens < total - shared * 0.9


def test_the_same_prompt_again_is_evaluated_from_the_cache(llama_server: LlamaCppServer) -> None:
    messages = prompts.answer_messages("How long is the warranty?", PASSAGES_EN)
    llama_server.complete(messages)
    llama_server.new_prompt_evals()
    llama_server.complete(messages)
    evals = llama_server.new_prompt_evals()
    # Nothing is evaluated again but, at most, the last prompt token (replayed to refresh the
    # logits): 0.23 s where the first time took 45 s on a loaded machine.
    assert evals and all(e.evaluated_tokens <= 1 for e in evals)
    assert llama_server.new_prompt_evals() == []  # each timing is read once


def test_the_running_speed_follows_the_servers_timings() -> None:
    assert smoothed_speed(40.0, PromptEval(400, 200, 2.0)) == 0.7 * 40.0 + 0.3 * 100.0
    # A timing over a handful of tokens (a follow-up's rewrite, an exact repeat) is no measure.
    assert smoothed_speed(40.0, PromptEval(400, MIN_MEASURED_TOKENS - 1, 0.01)) == 40.0
    assert smoothed_speed(40.0, PromptEval(0, 500, 0.0)) == 40.0


def test_counter_tokens_per_model_token_come_from_the_calibration_texts() -> None:
    speed = PromptSpeed(50.0, 8.0, 250, {"en": 50, "zh": 60})
    characters = len  # a counter that sees one token per character
    assert speed.counter_per_model_token("zh", characters) == len(CALIBRATION_TEXTS["zh"]) / 60
    assert speed.counter_per_model_token("en", characters) == len(CALIBRATION_TEXTS["en"]) / 50
    # A language without calibration is counted as English; no calibration at all: 1.0.
    assert speed.counter_per_model_token("fr", characters) == len(CALIBRATION_TEXTS["en"]) / 50
    assert PromptSpeed(50.0, 8.0, 250).counter_per_model_token("zh", characters) == 1.0


def test_a_configured_backend_keeps_the_fixed_passage_budget(tmp_path: Path) -> None:
    backend = LlmBackendSettings(name="vllm", base_url="http://127.0.0.1:9/v1", model="m")
    models = AnswerModels(make_settings(tmp_path, llm={"backends": [backend]}))
    models.start()  # nothing to start: no warm-up, no measured speed
    assert models.status == "ok"
    assert models.prompt_speed() is None
