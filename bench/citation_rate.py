"""Citation coverage and precision of answers, in Chinese (xquad-r-zh) and English (SciFact
test), with the packaged model through the product's answer path (``AnswerService.generate``
against the real llama.cpp server), before and after sentences are attributed in code.

    python -m bench.citation_rate --per-language 16 --unanswerable 3

Each question gets the passages qrels call relevant plus distractors a retriever would put
beside them (the passages of the same article, or SciFact abstracts, that share the most
terms with the question), in a fixed shuffled order. Per language:

- coverage: answered questions whose answer cites at least one passage;
- precision: cited passages that are relevant (qrels) or hold an answer string (xquad);
- correct (xquad): answered questions whose answer holds an answer string;
- refusals: questions shown only distractors that were declined, and declined in the
  question's language.

"Before" is the same model text through the old path (``repair_citations``: normalised,
nothing attributed); "after" is what the product now shows. Greedy decoding, so both come
from one generation per question. Figures go to ``bench/results/citation-rate-<date>.json``
and the headline ones into ``bench/results/summary.json`` (merged: others write it too).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.answer_rate import RecordingRouter, normalise
from bench.citation_questions import (
    MAX_PASSAGE_CHARS,
    Question,
    passages_of,
    scifact_questions,
    terms_of,
    xquad_questions,
)
from bench.common import REPO_ROOT, machine_info, merge_summary
from core.settings import Settings
from core.settings_llm import LlmSettings
from index.embedders import build_embedder
from llm import prompts
from llm.citations import is_dont_know, repair_citations
from llm.client import StreamEnd, StreamStart, TextDelta
from llm.local_server import LlamaCppServer
from llm.packaged_models import DEFAULT_MODEL, ensure_model
from llm.reply_language import refusal, reply_language
from llm.routing import LlmRouter
from retrieval.filters import MetadataFilters
from services.answer_generation import generate_answer
from services.answer_types import Final, Prepared
from services.passage_forms import passage_text

RESULTS = REPO_ROOT / "bench" / "results"
DEFAULT_MAX_TOKENS = 96
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Outcome:
    id: str
    language: str
    answerable: bool
    declined_before: bool
    declined_after: bool
    cited_before: list[int]
    cited_after: list[int]
    relevant: list[int]
    correct: bool
    refusal_in_language: bool
    seconds: float
    answer: str
    raw: str
    # Cited passages that hold the sentence citing them nearly word for word (older runs: [])
    held: list[int] = field(default_factory=list)


async def answer(
    router: Any, question: Question, embedder: Any = None, meaning_wait_s: float = 0.0
) -> Outcome:
    """One question through the product's answer path (``generate_answer``, as
    ``AnswerService.generate`` calls it, with the retrieval model for attribution by meaning
    unless ``embedder`` is None)."""
    passages = passages_of(question)
    messages = prompts.answer_messages(question.text, [passage_text(p) for p in passages])
    prepared = Prepared(
        question=question.text, search_query=question.text, language=question.language,
        filters=MetadataFilters(), result=cast(Any, None), passages=passages,
        messages=messages, prompt_version="answer.default",
    )  # fmt: skip
    router.raw = []
    started = time.perf_counter()
    final: Final | None = None
    events = generate_answer(prepared, lambda: router, len, embedder, meaning_wait_s)
    async for event in events:
        if isinstance(event, Final):
            final = event
    assert final is not None
    raw = "".join(router.raw)
    before = repair_citations(raw, len(passages))
    declined_before = is_dont_know(before.text)
    declined_after = final.outcome == "declined"
    relevant = [
        n
        for n, (_, text, is_relevant) in enumerate(question.passages, start=1)
        if is_relevant or any(normalise(a) in normalise(text) for a in question.answers)
    ]
    chinese_reply = bool(_HAN.search(final.answer))
    return Outcome(
        id=question.id,
        language=question.language,
        answerable=question.answerable,
        declined_before=declined_before,
        declined_after=declined_after,
        cited_before=[] if declined_before else before.cited,
        cited_after=[int(str(c["number"])) for c in final.citations],
        relevant=relevant,
        correct=not declined_after
        and any(normalise(a) in normalise(final.answer) for a in question.answers),
        refusal_in_language=declined_after
        and final.answer == refusal(reply_language(question.text))
        and chinese_reply == (question.language == "zh"),
        seconds=round(time.perf_counter() - started, 1),
        answer=final.answer,
        raw=raw,
        held=[] if declined_after else held_citations(
            final.answer, question.text, [text for _, text, _ in question.passages]
        ),
    )  # fmt: skip


class ReplayRouter:
    """Streams a saved run's raw model text again, a few characters at a time as the server
    would, so that the product's attribution can be re-run on it without the model:
    attribution is a function of the text alone (greedy decoding)."""

    def __init__(self, raw: dict[str, str]) -> None:
        self._raw = raw
        self.current = ""
        self.raw: list[str] = []

    async def stream(self, role: str, messages: Sequence[Any], **kwargs: Any) -> Any:
        text = self._raw[self.current]
        yield StreamStart("replay", "replay")
        for start in range(0, len(text), 3):
            self.raw.append(text[start : start + 3])
            yield TextDelta(text[start : start + 3])
        yield StreamEnd("stop")

    async def aclose(self) -> None:
        return None


# A cited passage "holds" a sentence that it repeats almost word for word: this share of the
# sentence's terms, and of the terms it adds to the question, are in the passage.
HOLDS_SHARE = 0.8
_SENTENCE = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;\n]|\.(?=\s|$)|$)")
_CITED = re.compile(r"\[(\d{1,3})\]")


def held_citations(answer: str, question: str, passages: Sequence[str]) -> list[int]:
    """Cited passages that hold a sentence citing them (:data:`HOLDS_SHARE`): the citation
    is right about what the sentence says, whether or not the answer is the right one. A
    sentence that only restates the question adds nothing to hold and counts for no passage."""
    asked = terms_of(question)
    held: set[int] = set()
    for sentence in _SENTENCE.findall(answer):
        terms = terms_of(_CITED.sub("", sentence))
        new = terms - asked
        for number in map(int, _CITED.findall(sentence)):
            if not (terms and new and 1 <= number <= len(passages)):
                continue
            holding = terms_of(passages[number - 1])
            if min(len(terms & holding) / len(terms), len(new & holding) / len(new)) >= HOLDS_SHARE:
                held.add(number)
    return sorted(held)


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    def share(hits: int, total: int) -> float | None:
        return round(hits / total, 3) if total else None

    answerable = [o for o in outcomes if o.answerable]
    summary: dict[str, Any] = {"questions": len(answerable)}
    for when in ("before", "after"):
        answered = [o for o in answerable if not getattr(o, f"declined_{when}")]
        cited = [(o, getattr(o, f"cited_{when}")) for o in answered]
        pairs = [(n, o.relevant) for o, numbers in cited for n in numbers]
        summary[when] = {
            "answered": len(answered),
            "coverage": share(sum(bool(numbers) for _, numbers in cited), len(answered)),
            "precision": share(sum(n in relevant for n, relevant in pairs), len(pairs)),
            "citations": len(pairs),
        }
        if when == "after":
            # Relevant by qrels, or holding what the citing sentence says (a wrong answer
            # copied from a distractor cites its source rightly): precision of the citation
            # itself rather than of the answer.
            held = [n in o.relevant or n in o.held for o, numbers in cited for n in numbers]
            summary[when]["precision_supported"] = share(sum(held), len(held))
        if any(o.correct for o in answered):  # xquad: the citations of right answers only
            right = [n in o.relevant for o, numbers in cited if o.correct for n in numbers]
            summary[when]["precision_when_correct"] = share(sum(right), len(right))
    unanswerable = [o for o in outcomes if not o.answerable]
    summary["correct"] = share(sum(o.correct for o in answerable), len(answerable))
    summary["unanswerable"] = len(unanswerable)
    summary["declined"] = share(sum(o.declined_after for o in unanswerable), len(unanswerable))
    summary["refusal_in_language"] = share(
        sum(_refused_in_language(o) for o in unanswerable if o.declined_after),
        sum(o.declined_after for o in unanswerable),
    )
    summary["mean_seconds"] = share(sum(o.seconds for o in outcomes), len(outcomes))
    return summary


def _refused_in_language(outcome: Outcome) -> bool:
    """A Chinese question's refusal is ours in Chinese (xquad-r-zh is Simplified); an English
    one's is the model's own words, in English."""
    if outcome.language == "zh":
        return outcome.answer == refusal("zh-Hans")
    return not _HAN.search(outcome.answer)


def default_embedder() -> Any:
    settings = Settings(environment="test")
    return build_embedder(settings.embedding, settings.model_cache_path)


async def run(
    backend: Any,
    questions: Sequence[Question],
    replay: dict[str, str] | None = None,
    meaning: Any = None,
) -> list[Outcome]:
    if replay is None:
        router: Any = RecordingRouter(LlmRouter.from_settings(LlmSettings(backends=[backend])))
    else:
        router = ReplayRouter(replay)
    outcomes = []
    try:
        for question in questions:
            if replay is not None:
                if question.id not in replay:
                    continue
                router.current = question.id
            # A replay streams at once: it waits for the passages' vectors, which a model
            # writing its first sentence (seconds here) gives the product time to make.
            wait = 30.0 if replay is not None else 0.0
            outcome = await answer(router, question, meaning, wait)
            print(f"  {question.language} {question.id[:14]:<14} before {outcome.cited_before} "
                  f"after {outcome.cited_after} relevant {outcome.relevant} {outcome.seconds}s "
                  f"{outcome.answer[:60]!r}", flush=True)  # fmt: skip
            outcomes.append(outcome)
    finally:
        await (router.aclose() if replay is not None else router._router.aclose())
    return outcomes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Citation coverage and precision of answers.")
    parser.add_argument("--per-language", type=int, default=16)
    parser.add_argument("--unanswerable", type=int, default=3, help="per language")
    parser.add_argument("--distractors", type=int, default=3, help="xquad; SciFact gets 2")
    parser.add_argument("--languages", default="zh,en")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--no-summary", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-chars", type=int, default=MAX_PASSAGE_CHARS, help="per passage")
    parser.add_argument(
        "--from-report", type=Path, default=None, help="summarise a saved run again, no model"
    )
    parser.add_argument(
        "--split", choices=("all", "tune", "test"), default="all",
        help="tune: xquad-r-zh's dev half and SciFact train; test: the test half and test",
    )  # fmt: skip
    parser.add_argument(
        "--words-only", action="store_true",
        help="attribute by words alone (before attribution by meaning, 2026-12-03)",
    )  # fmt: skip
    parser.add_argument(
        "--replay", type=Path, default=None,
        help="a saved run: its questions' raw model text through today's attribution, no model",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_report:
        saved = json.loads(args.from_report.read_text())
        for language, outcomes in saved["outcomes"].items():
            saved["summaries"][language] = summarise([Outcome(**o) for o in outcomes])
        args.from_report.write_text(json.dumps(saved, ensure_ascii=False, indent=1))
        print(json.dumps(saved["summaries"], indent=1))
        if not args.no_summary:
            merge_summary(headline(saved["summaries"]))
        return
    languages = [x for x in args.languages.split(",") if x]
    split = args.split
    saved = json.loads(args.replay.read_text()) if args.replay else None
    if saved is not None:  # the saved run's own question set
        split = saved.get("split", "all")
        for name in ("per_language", "unanswerable", "distractors", "max_chars"):
            setattr(args, name, saved.get(name, getattr(args, name)))  # older runs: the flags
        languages = list(saved["outcomes"])
    sets = {
        "zh": lambda: xquad_questions(
            args.per_language, args.unanswerable, args.distractors, split
        ),
        "en": lambda: scifact_questions(
            args.per_language, args.unanswerable, 2, args.max_chars, split
        ),
    }
    out = args.out or RESULTS / f"citation-rate-{datetime.date.today().isoformat()}.json"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report: dict[str, Any] = {
        "model": args.model, "max_tokens": args.max_tokens, "threads": args.threads,
        "prompt": prompts.default_version("answer"), "machine": machine_info(),
        "split": split, "per_language": args.per_language, "unanswerable": args.unanswerable,
        "distractors": args.distractors, "max_chars": args.max_chars,
        "summaries": {}, "outcomes": {},
    }  # fmt: skip
    embedder = None if args.words_only else default_embedder()
    report["attribution"] = "words" if args.words_only else "words+meaning"
    if saved is not None:
        report["replayed"] = str(args.replay)
        for language in languages:
            raw = {o["id"]: o["raw"] for o in saved["outcomes"][language]}
            outcomes = asyncio.run(run(None, sets[language](), raw, embedder))
            report["summaries"][language] = summarise(outcomes)
            report["outcomes"][language] = [asdict(o) for o in outcomes]
        if args.out:
            args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        print(json.dumps(report["summaries"], indent=1))
        return
    path = ensure_model(args.model, Settings(environment="test").model_cache_path)
    with LlamaCppServer(path, alias=args.model, n_threads=args.threads) as server:
        backend = server.backend_settings(read_timeout_s=300.0).model_copy(
            update={"max_tokens": args.max_tokens}
        )
        for language in languages:
            questions = sets[language]()
            print(f"{language}: {len(questions)} questions", flush=True)
            outcomes = asyncio.run(run(backend, questions, meaning=embedder))
            report["summaries"][language] = summarise(outcomes)
            report["outcomes"][language] = [asdict(o) for o in outcomes]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(json.dumps(report["summaries"], indent=1))
    if not args.no_summary:
        merge_summary(headline(report["summaries"]))
    print(f"written to {out}")


def headline(summaries: dict[str, Any]) -> dict[str, float | None]:
    """``dataset/split/metric/configuration`` figures for ``summary.json``."""
    figures: dict[str, float | None] = {}
    keys = {"zh": "xquad-r-zh/test", "en": "scifact/test"}
    for language, summary in summaries.items():
        for when, name in (("before", "repaired-only"), ("after", "attributed")):
            for metric in ("coverage", "precision"):
                figures[f"{keys[language]}/citation-{metric}/{name}"] = summary[when][metric]
        figures[f"{keys[language]}/refusal-in-question-language/default"] = summary[
            "refusal_in_language"
        ]
    return figures


if __name__ == "__main__":
    main()
