"""How a passage is shown: to the model (a title line, then the text) and to a client before
the answer (a numbered source with a bounded excerpt)."""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.context import Passage
from services.schemas.chat import MAX_SOURCE_EXCERPT_CHARS, Source


def passage_text(passage: Passage) -> str:
    """A title line (with the page), then the text: the shape the prompt's example uses."""
    title = passage.title or passage.filename
    head = f"{title}, page {passage.page}" if passage.page else title
    return passage.text if passage.text.startswith(head) else f"{head}\n{passage.text}"


def sources_of(passages: Sequence[Passage]) -> list[Source]:
    """The passages as a client may show them before the answer: each with the number the
    answer cites it by, its text cut to a bounded excerpt."""
    shown = []
    for p in passages:
        cut = len(p.text) > MAX_SOURCE_EXCERPT_CHARS
        shown.append(
            Source(
                number=p.number,
                document_id=p.doc_id,
                version=p.version,
                title=p.title,
                filename=p.filename,
                page=p.page,
                page_end=p.page_end,
                section=list(p.section_path),
                chunk_ids=list(p.chunk_ids),
                excerpt=p.text[:MAX_SOURCE_EXCERPT_CHARS].rstrip() + " …" if cut else p.text,
                truncated=cut,
            )
        )
    return shown
