"""Where a section changes language: consecutive elements grouped by dominant script.

Why: one dense vector stands for one chunk. A chunk that packs an English passage and an
unrelated Chinese one (an English manual with Chinese notes, a Chinese report with an English
appendix) gets a vector halfway between two topics, matching neither language's questions
well; on the mixed-language benchmark the fused ranking then fell below keyword search alone.
So the chunker packs each substantial single-script stretch on its own.

Only stretches of at least ``min_tokens`` on both sides of a change are separated. Smaller
foreign pieces (a one-line "备注：见附件", an English product name in its own paragraph)
stay with their neighbours: they are part of the surrounding topic, and separating them would
leave tiny chunks that a bare-phrase query ranks first. Elements without a clear majority
(mixed sentences, numbers, titles) never start a stretch; they go with the one they are in.
A section in one script comes back as one group, so it chunks exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.text_forms import HAN_CHAR, LATIN_WORD
from ingest.types import Element

# One English word says about what a two-character Chinese word says: weigh it as two Han
# characters, so that a paragraph's "script" follows its content, not its character count.
_WORD_WEIGHT = 2
# The share of the weighted content one script needs to be the element's script.
_MAJORITY = 2 / 3


def min_stretch_tokens(chunk_tokens: int) -> int:
    """The least a single-script stretch holds to be packed on its own: an eighth of a chunk
    (32 of 256 tokens: a sentence or two, some 20 English words or 40 Chinese characters in
    multilingual-e5's tokens). A quarter, the size below which the chunker merges whole
    sections, kept most notes of the mixed-language benchmark (a median 44 e5 tokens) inside
    their English chunk: nDCG@10 of Chinese questions on English manuals with Chinese notes
    was 0.762 with a quarter, 0.798 with an eighth, 0.776 without cutting."""
    return chunk_tokens // 8


def dominant_script(text: str) -> str | None:
    """The text's script: "han", "latin", or None when neither holds two thirds of it."""
    han = len(HAN_CHAR.findall(text))
    words = LATIN_WORD.findall(text)
    latin = _WORD_WEIGHT * len(words)
    # Letters of other scripts (Hangul, kana, Cyrillic) count against both: a Korean paragraph
    # with a few Hanja or an English acronym is neither, and is never cut on.
    other = max(0, sum(c.isalpha() for c in text) - han - sum(map(len, words)))
    total = han + latin + other
    if not total:
        return None
    if han >= _MAJORITY * total:
        return "han"
    if latin >= _MAJORITY * total:
        return "latin"
    return None


@dataclass
class _Stretch:
    script: str | None
    elements: list[Element] = field(default_factory=list)
    tokens: int = 0
    # Tokens per script, for the label of a stretch that absorbed smaller foreign ones.
    weights: dict[str | None, int] = field(default_factory=dict)

    def add(self, other: _Stretch) -> None:
        self.elements.extend(other.elements)
        self.tokens += other.tokens
        for script, tokens in other.weights.items():
            self.weights[script] = self.weights.get(script, 0) + tokens
        labelled = {s: t for s, t in self.weights.items() if s is not None}
        self.script = max(labelled, key=labelled.__getitem__) if labelled else None


def script_groups(
    run: list[Element], tokens: Callable[[str], int], min_tokens: int
) -> list[list[Element]]:
    """``run`` cut where the dominant script changes and both sides hold ``min_tokens``.

    ``tokens`` counts a text's tokens (without the model's special tokens)."""
    scripts = [None if e.kind == "title" else dominant_script(e.text) for e in run]
    if len({s for s in scripts if s is not None}) < 2:
        return [run]  # one script: nothing to cut, and no token counting spent
    stretches: list[_Stretch] = []
    for element, script in zip(run, scripts, strict=True):
        count = tokens(element.text)
        piece = _Stretch(script, [element], count, {script: count})
        last = stretches[-1] if stretches else None
        if last is not None and (script is None or script == last.script or last.script is None):
            last.add(piece)
        else:
            stretches.append(piece)
    # Fold stretches under the limit into the one before (the first into the next), then
    # join neighbours that share a script. A fold only grows a stretch, so every cut left
    # has min_tokens on both sides.
    folded: list[_Stretch] = []
    for stretch in stretches:
        if folded and (stretch.tokens < min_tokens or folded[-1].tokens < min_tokens):
            folded[-1].add(stretch)
        else:
            folded.append(stretch)
    # Neighbours of one script (apart, or relabelled by what a fold brought) become one.
    groups: list[_Stretch] = []
    for stretch in folded:
        if groups and stretch.script == groups[-1].script:
            groups[-1].add(stretch)
        else:
            groups.append(stretch)
    return [stretch.elements for stretch in groups]
