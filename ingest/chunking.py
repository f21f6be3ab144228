"""Elements → chunks sized in the embedding model's tokens.

Structure first, then size:

* A title starts a section; a chunk never spans two sections except when small neighbours
  are merged (below). Page headers, footers and page numbers are left out: repeated on every
  page, they would dominate retrieval.
* Text within a section is packed by llama-index's ``SentenceSplitter`` with our sentence
  splitter (:mod:`ingest.sentences`, Chinese and English), the configured overlap, and token
  counts from the caller's ``token_count`` (the embedding model's tokenizer).
* Within a section, a change of dominant script (Chinese ↔ English) between paragraphs
  starts a new chunk when each side holds at least an eighth of a chunk
  (:mod:`ingest.script_runs`): one vector for two unrelated topics in two languages matches
  neither. Smaller foreign notes stay with their neighbours.
* A table that fits is one chunk, rendered one row per line (its HTML kept on the chunk). A
  table that does not fit is split by rows, each piece repeating the header row.
* Sections (and slides, sheets, short e-mails) much smaller than a chunk are merged with the
  next section at the same or a deeper level, so that retrieval does not return a bare heading.
* Every chunk's text begins with its section path as one line ("Manual > Install > Linux"),
  unless the chunk itself begins with that heading, in which case only the enclosing titles are
  shown. Why: a passage like "Run the installer again" is found and understood only with its
  headings; dense and lexical retrieval both gain from the words, and the reader sees where a
  citation comes from. The line is counted in the chunk's tokens and kept to a quarter of them
  (outermost titles are dropped first). Nothing else is prefixed.

Every chunk satisfies ``token_count(chunk.text) <= settings.chunk_tokens``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from llama_index.core.node_parser import SentenceSplitter

from core.settings import ChunkingSettings
from ingest.script_runs import min_stretch_tokens, script_groups
from ingest.sentences import CLAUSE_REGEX, split_sentences
from ingest.tables import render_rows, rows_to_html, table_rows
from ingest.types import Chunk, Element

SKIPPED_KINDS = frozenset({"header", "footer", "page_number", "image"})
PATH_SEPARATOR = " > "
_PARAGRAPH = "\n\n"


@dataclass(frozen=True)
class _Section:
    path: tuple[str, ...]
    titled: bool
    elements: list[Element]


@dataclass(frozen=True)
class _Draft:
    body: str
    header: tuple[str, ...]
    section_path: tuple[str, ...]
    kind: str
    page: int | None
    page_end: int | None
    starts_with_title: bool = False
    html: str | None = None


class Chunker:
    def __init__(
        self,
        settings: ChunkingSettings,
        token_count: Callable[[str], int],
        *,
        section_header: bool = True,
    ) -> None:
        if settings.chunk_tokens < 32:
            raise ValueError("chunk_tokens must be at least 32")
        if not 0 <= settings.overlap_tokens <= settings.chunk_tokens // 2:
            raise ValueError("overlap_tokens must be between 0 and half of chunk_tokens")
        self.max_tokens = settings.chunk_tokens
        self.overlap_tokens = settings.overlap_tokens
        self._count = token_count
        # Tokens the counter adds to any text (special tokens): paid once per chunk.
        self._base = token_count("")
        self._section_header = section_header
        self._min_stretch = min_stretch_tokens(settings.chunk_tokens)
        self._splitters: dict[int, SentenceSplitter] = {}

    def chunk(self, elements: Iterable[Element]) -> list[Chunk]:
        drafts: list[_Draft] = []
        for section in _sections(elements):
            drafts.extend(self._section_drafts(section))
        drafts = [fitted for draft in self._merge_small(drafts) for fitted in self._fit(draft)]
        return [
            Chunk(
                text=self._render(draft),
                position=position,
                page=draft.page,
                section_path=draft.section_path,
                kind=draft.kind,
                page_end=draft.page_end,
                html=draft.html,
            )
            for position, draft in enumerate(drafts)
        ]

    # -- sections -------------------------------------------------------------------------

    def _section_drafts(self, section: _Section) -> Iterator[_Draft]:
        run: list[Element] = []
        first_run = True
        for element in [*section.elements, None]:
            if element is not None and element.kind != "table":
                run.append(element)
                continue
            # A heading directly above a table is already the table chunk's header line.
            title_only = first_run and section.titled and len(run) == 1
            if run and not (title_only and element is not None and self._section_header):
                opens = section.titled and first_run
                for group in script_groups(run, self._body_tokens, self._min_stretch):
                    yield from self._text_drafts(section, group, opens)
                    opens = False
            if run:
                first_run, run = False, []
            if element is not None:
                yield from self._table_drafts(section, element)
                first_run = False

    def _text_drafts(
        self, section: _Section, run: list[Element], starts_with_title: bool
    ) -> Iterator[_Draft]:
        body, spans = _join(run)
        header = self._header(section.path)
        budget = self._body_budget(header)
        previous_start, previous_end = -1, 0
        if body and self._body_tokens(body) <= budget:
            # What the splitter returns for a text that fits (its own first check, with the
            # same count), without its machinery: most short files are one such piece.
            pieces = [body.strip()] if body.strip() else []
        else:
            pieces = self._splitter(budget).split_text(body)
        if starts_with_title and len(pieces) > 1 and pieces[0].strip() == run[0].text.strip():
            # The heading alone, because the paragraph after it fits only without it: drop
            # it. The next piece carries the heading in its section line, so nothing is
            # lost, and retrieval never returns a bare heading.
            pieces, starts_with_title = pieces[1:], False
            previous_start = previous_end = len(run[0].text)
        for index, piece in enumerate(pieces):
            # Pieces come in order and each ends after the one before (overlap only reaches
            # back), which pins repeated text to the right occurrence.
            lower = max(previous_start + 1, previous_end - len(piece) + 1)
            start = body.find(piece, lower)
            if start < 0:
                start = lower
            previous_start, previous_end = start, start + len(piece)
            opens = starts_with_title and index == 0
            yield _Draft(
                body=piece,
                header=self._header(section.path[:-1]) if opens else header,
                section_path=section.path,
                kind="text",
                page=_page_at(spans, start),
                page_end=_page_at(spans, start + len(piece) - 1),
                starts_with_title=opens,
            )

    def _table_drafts(self, section: _Section, table: Element) -> Iterator[_Draft]:
        header = self._header(section.path)
        whole = _Draft(
            table.text, header, section.path, "table", table.page, table.page, html=table.html
        )
        rows = table_rows(table.html) if table.html else []
        if self._tokens(whole) <= self.max_tokens or len(rows) < 3:
            yield whole  # _fit splits it by text if it is still too big
            return
        head, budget = rows[0], self._body_budget(header)
        used = self._count(render_rows([head])) - self._base
        piece: list[list[str]] = [head]
        for row in rows[1:]:
            cost = self._count(render_rows([row])) - self._base
            if len(piece) > 1 and used + cost > budget:
                yield replace(whole, body=render_rows(piece), html=rows_to_html(piece))
                piece, used = [head], self._count(render_rows([head])) - self._base
            piece.append(row)
            used += cost
        yield replace(whole, body=render_rows(piece), html=rows_to_html(piece))

    # -- merging and limits ---------------------------------------------------------------

    def _merge_small(self, drafts: list[_Draft]) -> list[_Draft]:
        small = self.max_tokens // 4
        merged: list[_Draft] = []
        for draft in drafts:
            previous = merged[-1] if merged else None
            if (
                previous is not None
                and previous.kind == draft.kind == "text"
                and draft.starts_with_title
                and draft.header in (previous.section_path, previous.header)
                and min(self._tokens(previous), self._tokens(draft)) < small
            ):
                combined = replace(
                    previous,
                    body=previous.body + _PARAGRAPH + draft.body,
                    page_end=_last_page(previous.page_end, draft.page_end),
                )
                if self._tokens(combined) <= self.max_tokens:
                    merged[-1] = combined
                    continue
            merged.append(draft)
        return merged

    def _fit(self, draft: _Draft) -> Iterator[_Draft]:
        """Split a draft whose rendered text is over the limit (a giant table row, or token
        counts that do not add up exactly when pieces are joined)."""
        if self._tokens(draft) <= self.max_tokens:
            yield draft
            return
        budget = self._body_budget(draft.header)
        while budget > 8:
            pieces = self._splitter(budget).split_text(draft.body)
            fitted = [replace(draft, body=piece, html=None) for piece in pieces]
            if all(self._tokens(piece) <= self.max_tokens for piece in fitted):
                yield from fitted
                return
            budget -= max(2, budget // 10)
        raise ValueError(f"cannot fit a chunk into {self.max_tokens} tokens")

    # -- helpers --------------------------------------------------------------------------

    def _header(self, path: tuple[str, ...]) -> tuple[str, ...]:
        if not self._section_header:
            return ()
        limit = self.max_tokens // 4
        while path and self._count(PATH_SEPARATOR.join(path)) > limit:
            path = path[1:] if len(path) > 1 else (path[0][: len(path[0]) * 2 // 3].rstrip(),)
        return tuple(part for part in path if part)

    def _render(self, draft: _Draft) -> str:
        if not draft.header:
            return draft.body
        return PATH_SEPARATOR.join(draft.header) + "\n" + draft.body

    def _body_tokens(self, text: str) -> int:
        return self._count(text) - self._base

    def _tokens(self, draft: _Draft) -> int:
        return self._count(self._render(draft))

    def _body_budget(self, header: tuple[str, ...]) -> int:
        if not header:
            return self.max_tokens - self._base
        return self.max_tokens - self._count(PATH_SEPARATOR.join(header) + "\n")

    def _splitter(self, budget: int) -> SentenceSplitter:
        if budget not in self._splitters:
            base, count = self._base, self._count
            self._splitters[budget] = SentenceSplitter(
                chunk_size=budget,
                chunk_overlap=min(self.overlap_tokens, budget // 2),
                # SentenceSplitter measures len(tokenizer(text)).
                tokenizer=lambda text: range(max(count(text) - base, 0)),
                paragraph_separator=_PARAGRAPH,
                chunking_tokenizer_fn=split_sentences,
                secondary_chunking_regex=CLAUSE_REGEX,
            )
        return self._splitters[budget]


def _sections(elements: Iterable[Element]) -> Iterator[_Section]:
    current: _Section | None = None
    for element in elements:
        if element.kind in SKIPPED_KINDS or not element.text.strip():
            continue
        if element.kind == "title":
            if current is not None:
                yield current
            current = _Section((*element.section_path, element.text), True, [element])
        elif current is None or element.section_path != current.path:
            if current is not None:
                yield current
            current = _Section(element.section_path, False, [element])
        else:
            current.elements.append(element)
    if current is not None:
        yield current


def _join(run: list[Element]) -> tuple[str, list[tuple[int, int | None]]]:
    """Text of consecutive elements, and (start offset, page) of each in it."""
    parts: list[str] = []
    spans: list[tuple[int, int | None]] = []
    offset = 0
    for index, element in enumerate(run):
        if index:
            both_items = element.kind == run[index - 1].kind == "list_item"
            separator = "\n" if both_items else _PARAGRAPH
            parts.append(separator)
            offset += len(separator)
        spans.append((offset, element.page))
        parts.append(element.text)
        offset += len(element.text)
    return "".join(parts), spans


def _page_at(spans: list[tuple[int, int | None]], offset: int) -> int | None:
    page = spans[0][1]
    for start, span_page in spans:
        if start > offset:
            break
        page = span_page
    return page


def _last_page(first: int | None, second: int | None) -> int | None:
    pages = [page for page in (first, second) if page is not None]
    return max(pages) if pages else None
