"""From ranked hits to the numbered passages a model reads: neighbours merged, budget kept.

Adjacent chunks of one document found together are one passage (the model reads the text as
written, once, instead of two fragments repeating their overlap), and passages are added in
rank order until the token budget is spent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.text_terms import overlap_terms
from retrieval.search import Hit

# Overlaps shorter than this are coincidence, not the chunker's overlap.
_MIN_OVERLAP = 12
# Marks a passage cut short, so the model does not take the cut for the document's end.
_ELLIPSIS = " …"
# A truncated passage shorter than this helps no one: stop instead.
_MIN_TAIL_TOKENS = 40
# Sentences (a full stop in either script, or a line); where a passage must be cut they are
# ranked by the terms (core.text_terms) they share with the question.
_SENTENCE = re.compile(r"(?:[^\n。！？!?；;.]|\.(?!\s|$))+(?:[。！？!?；;]+|\.(?=\s|$))?")


@dataclass
class Passage:
    """One numbered source in the prompt; ``number`` is what the model cites as [n]."""

    number: int
    doc_id: str
    version: int
    title: str
    filename: str
    page: int | None
    page_end: int | None
    section_path: tuple[str, ...]
    text: str
    chunk_ids: list[str]
    positions: list[int]
    score: float

    def citation(self) -> dict[str, object]:
        """What a client shows for [n]: document, pages, chunks."""
        return {
            "number": self.number,
            "document_id": self.doc_id,
            "version": self.version,
            "title": self.title,
            "filename": self.filename,
            "page": self.page,
            "page_end": self.page_end,
            "section": list(self.section_path),
            "chunk_ids": list(self.chunk_ids),
            "positions": list(self.positions),
        }


# What the answer prompt adds after the cached fixed start besides the passages' own text, in
# the model's tokens (Qwen2.5, answer.v4): the closing instructions and chat markup (~70) and
# the question; per passage, its tags and title line.
PROMPT_TAIL_TOKENS = 80
PASSAGE_WRAPPER_TOKENS = 16


def timed_budget(
    ceiling: int,
    *,
    tokens_per_s: float,
    target_s: float,
    question_tokens: int,
    floor: int,
    counter_per_model_token: float = 1.0,
) -> int:
    """The passage budget (in the counter's tokens, wrappers included: pass
    ``passage_overhead_tokens=PASSAGE_WRAPPER_TOKENS`` to :func:`build_passages`) that a backend
    evaluating ``tokens_per_s`` prompt tokens per second gets through in ``target_s`` after
    the prompt's tail; never above ``ceiling`` (the configured budget) nor below ``floor`` (one
    useful passage, however slow the backend).

    The prompt's fixed start is not counted: it is cached by the server (llm/runtime.py)."""
    model_tokens = tokens_per_s * target_s - PROMPT_TAIL_TOKENS - question_tokens
    budget = int(model_tokens * counter_per_model_token)
    return max(min(floor, ceiling), min(ceiling, budget))


def build_passages(
    hits: Sequence[Hit],
    count_tokens: Callable[[str], int],
    *,
    budget_tokens: int,
    max_passages: int,
    merge_neighbours: bool = True,
    passage_overhead_tokens: int = 0,
    question: str = "",
) -> list[Passage]:
    """``passage_overhead_tokens``: what each passage costs besides its text (tags, title),
    counted against the budget. A passage cut to fit keeps, with a ``question``, its
    sentences that share most terms with it (in their order), else its beginning."""
    groups = _merge(hits) if merge_neighbours else [[h] for h in hits]
    rank = {h.chunk_id: i for i, h in enumerate(hits)}
    passages: list[Passage] = []
    spent = 0
    for group in groups:
        if len(passages) >= max_passages:
            break
        text = _join([h.text for h in group])
        cost = count_tokens(text)
        if spent + passage_overhead_tokens + cost > budget_tokens and len(group) > 1:
            # Cut short, merged neighbours would keep the first chunk in the document, not
            # the one the search found: that one alone instead (a tight budget, issue 12).
            group = [min(group, key=lambda h: rank[h.chunk_id])]
            text = group[0].text
            cost = count_tokens(text)
        if spent + passage_overhead_tokens + cost > budget_tokens:
            room = budget_tokens - spent - passage_overhead_tokens
            if room < _MIN_TAIL_TOKENS:
                break
            text = _focused(text, room, count_tokens, question)
            cost = count_tokens(text)
        spent += passage_overhead_tokens + cost
        first = group[0]
        pages = [h.page for h in group if h.page is not None]
        ends = [h.page_end or h.page for h in group if (h.page_end or h.page) is not None]
        passages.append(
            Passage(
                number=len(passages) + 1,
                doc_id=first.doc_id,
                version=first.version,
                title=first.title,
                filename=first.filename,
                page=min(pages) if pages else None,
                page_end=max(ends) if ends else None,
                section_path=first.section_path,
                text=text,
                chunk_ids=[h.chunk_id for h in group],
                positions=[h.position for h in group],
                score=max(h.score for h in group),
            )
        )
    return passages


def _merge(hits: Sequence[Hit]) -> list[list[Hit]]:
    """Runs of consecutive positions of one document version, ordered by their best hit."""
    by_doc: dict[tuple[str, int], list[Hit]] = {}
    for hit in hits:
        by_doc.setdefault((hit.doc_id, hit.version), []).append(hit)
    runs: list[list[Hit]] = []
    for doc_hits in by_doc.values():
        doc_hits.sort(key=lambda h: h.position)
        run = [doc_hits[0]]
        for hit in doc_hits[1:]:
            if hit.position == run[-1].position + 1:
                run.append(hit)
            elif hit.position != run[-1].position:
                runs.append(run)
                run = [hit]
        runs.append(run)
    rank = {h.chunk_id: i for i, h in enumerate(hits)}
    runs.sort(key=lambda run: min(rank[h.chunk_id] for h in run))
    return runs


def _join(texts: list[str]) -> str:
    merged = texts[0]
    for text in texts[1:]:
        merged += "\n" + _without_overlap(merged, _without_repeated_header(merged, text))
    return merged


def _without_repeated_header(previous: str, text: str) -> str:
    """Drop the section-path line a later chunk repeats from the first one."""
    head, _, body = text.partition("\n")
    return body if body and previous.startswith(head + "\n") else text


def _without_overlap(previous: str, text: str) -> str:
    """``text`` minus its longest prefix that ends ``previous`` (the chunker's overlap)."""
    longest = min(len(previous), len(text), 2000)
    for size in range(longest, _MIN_OVERLAP - 1, -1):
        if previous.endswith(text[:size]):
            return text[size:].lstrip()
    return text


def _focused(text: str, tokens: int, count_tokens: Callable[[str], int], question: str) -> str:
    """``text`` cut to ``tokens``: the sentences sharing most terms with ``question`` (the
    first line, the section path, always first), in the passage's order, a gap marked with
    the ellipsis; the plain prefix where nothing matches. A slow CPU backend's budget holds
    a fraction of a chunk (issue 12): the sentence that answers should be the part kept."""
    wanted = set(overlap_terms(question))
    sentences = [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0).strip()]
    if not wanted or len(sentences) < 3:
        return _truncate(text, tokens, count_tokens)
    scores = [len(set(overlap_terms(sentence)) & wanted) for sentence in sentences[1:]]
    if not any(scores):
        return _truncate(text, tokens, count_tokens)
    ranked = sorted(range(1, len(sentences)), key=lambda i: (-scores[i - 1], i))
    kept = {0}
    for i in ranked:
        if scores[i - 1] == 0:
            break
        if count_tokens(_joined(sentences, kept | {i})) <= tokens:
            kept.add(i)
    if kept == {0}:  # not even the best sentence fits whole: its beginning
        best = sentences[ranked[0]]
        return _truncate(sentences[0].strip() + "\n" + best, tokens, count_tokens)
    return _joined(sentences, kept)


def _joined(sentences: list[str], kept: set[int]) -> str:
    parts, previous = [], -1
    for i in sorted(kept):
        if i != previous + 1:
            parts.append(_ELLIPSIS.strip())
        parts.append(sentences[i].strip())
        previous = i
    if previous != len(sentences) - 1:
        parts.append(_ELLIPSIS.strip())
    return "\n".join(parts)


def _truncate(text: str, tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest prefix within ``tokens``, cut at a sentence or word end where possible."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle] + _ELLIPSIS) <= tokens:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    for mark in ("。", ". ", "！", "? ", "\n", "；", " "):
        at = cut.rfind(mark)
        if at > len(cut) * 0.6:
            return cut[: at + len(mark)].rstrip() + _ELLIPSIS
    return cut.rstrip() + _ELLIPSIS
