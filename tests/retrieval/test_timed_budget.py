"""The passage budget sized to the answer model's measured prompt speed (issue 12): the
arithmetic of ``timed_budget`` and the per-passage overhead ``build_passages`` counts."""

from __future__ import annotations

import pytest

from retrieval.context import PROMPT_TAIL_TOKENS, build_passages, timed_budget
from tests.retrieval.test_context import hit, words


def budget(**changes: float) -> int:
    arguments: dict[str, float] = {
        "tokens_per_s": 100.0,
        "target_s": 8.0,
        "question_tokens": 20,
        "floor": 250,
    }
    arguments.update(changes)
    return timed_budget(1500, **arguments)  # type: ignore[arg-type]


def test_the_budget_is_what_the_measured_speed_evaluates_in_the_target_time() -> None:
    # 100 tokens/s for 8 s, less the prompt's tail and the question.
    assert budget() == 800 - PROMPT_TAIL_TOKENS - 20
    assert budget(tokens_per_s=50.0) == 400 - PROMPT_TAIL_TOKENS - 20
    assert budget(target_s=4.0) == 400 - PROMPT_TAIL_TOKENS - 20
    # A longer question leaves less room for passages.
    assert budget(question_tokens=120) == 800 - PROMPT_TAIL_TOKENS - 120


def test_the_budget_is_converted_to_the_counters_tokens() -> None:
    # A Chinese character is ~1 token of a BERT vocabulary, ~2/3 of one of the model's.
    assert budget(counter_per_model_token=1.5) == int((800 - PROMPT_TAIL_TOKENS - 20) * 1.5)


@pytest.mark.parametrize("speed", [0.0, 1.0, 20.0])
def test_a_slow_or_unmeasured_backend_still_gets_one_useful_passage(speed: float) -> None:
    assert budget(tokens_per_s=speed) == 250


def test_a_fast_backend_keeps_the_configured_budget() -> None:
    assert budget(tokens_per_s=5000.0) == 1500
    # A floor above the ceiling never raises the budget past the configuration.
    assert timed_budget(200, tokens_per_s=10.0, target_s=8.0, question_tokens=5, floor=250) == 200


def test_each_passage_counts_its_wrapper_against_the_budget() -> None:
    text = " ".join(["word"] * 100)
    hits = [hit(doc, 0, text, score=1.0 - n / 10) for n, doc in enumerate("abc")]
    plain = build_passages(hits, words, budget_tokens=330, max_passages=6)
    wrapped = build_passages(
        hits, words, budget_tokens=330, max_passages=6, passage_overhead_tokens=16
    )
    # Without wrappers: 100 + 100 + 100 fit whole. With them: 116 + 116, and the third cut to
    # the 82 tokens left (its ellipsis is one more word).
    assert [words(p.text) for p in plain] == [100, 100, 100]
    assert [p.doc_id for p in wrapped] == ["a", "b", "c"]
    assert [words(p.text) for p in wrapped][:2] == [100, 100]
    assert words(wrapped[2].text) <= 82 and wrapped[2].text.endswith("…")
    # The best passages are the ones kept when the budget runs out.
    tight = build_passages(
        hits, words, budget_tokens=240, max_passages=6, passage_overhead_tokens=16
    )
    assert [p.doc_id for p in tight] == ["a", "b"]


def test_merged_neighbours_over_the_budget_give_way_to_the_chunk_that_was_found() -> None:
    before = "Intro\n" + " ".join(f"b{i}" for i in range(150))
    found = "Intro\n" + " ".join(f"f{i}" for i in range(150))
    hits = [hit("a", 5, found, 0.9), hit("a", 4, before, 0.3)]
    merged = build_passages(hits, words, budget_tokens=1000, max_passages=6)
    assert merged[0].chunk_ids == ["a-4", "a-5"]  # room enough: one passage, in order
    tight = build_passages(hits, words, budget_tokens=200, max_passages=6)
    # Not the document's earlier chunk cut short: the chunk the search ranked first.
    assert tight[0].chunk_ids == ["a-5"] and tight[0].text.startswith("Intro\nf0")
