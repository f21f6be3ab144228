"""The parse stage: original → elements → chunks (kept beside the original) → handed to the
embed stage. Several documents are parsed as a group: one transaction claims them, small files
share a call to the parser (one round trip to an isolated parser process), and each wave is
handed over as soon as it is parsed. A group's small files are parsed before its large ones:
a memo claimed beside a large PDF is not held for the minutes the PDF may take.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from core import metrics
from core.blobs import original_key
from core.chunk_pages import write_chunks
from core.db import documents as doc_queries
from core.db import jobs as job_queries
from core.db.models import DocumentStage
from core.db.session import transaction
from core.errors import UnprocessableDocument
from services.pii import IngestMasks, mask_chunks
from workers.context import Outcome, ParseManyFn, ParseResult, StageContext
from workers.heartbeats import heartbeat
from workers.runs import ClaimLost, Results, Run, close_run, once_each

# Files parsed in one ``parse_many`` call (one round trip to an isolated parser): up to
# WAVE_FILES small files and WAVE_BYTES in all. A file over SMALL_FILE_BYTES goes alone, so
# that a large one is handed to embedding as soon as it is parsed, not after its neighbours.
# The same line decides what the small-file lanes take (``workers.small_file_lane``, and the
# Celery queue ``workers.queues.PARSE_SMALL_QUEUE``): ``is_small_file``.
SMALL_FILE_BYTES = 64 * 1024
WAVE_FILES = 32
WAVE_BYTES = 256 * 1024

Report = Callable[[dict[str, Outcome], dict[str, Exception]], None]


def is_small_file(size_bytes: int | None) -> bool:
    """A small file: parsed beside others, first in its group, and by the small-file lanes.
    The original's size in bytes (UTF-8 for text: 30,000 Chinese characters are ~88 KiB,
    large); ``None`` (not known) is not small, so an unknown file never lands in a lane whose
    point is to stay quick."""
    return size_bytes is not None and size_bytes <= SMALL_FILE_BYTES


def parse_waves(sizes: Sequence[int]) -> list[list[int]]:
    """Positions of the files cut into the waves ``run_parse_group`` parses: the small files
    first, in order, several to a wave; then each large file alone, smallest first."""
    waves: list[list[int]] = []
    current: list[int] = []
    total = 0
    for position, size in enumerate(sizes):
        if not is_small_file(size):
            continue
        if current and (len(current) >= WAVE_FILES or total + size > WAVE_BYTES):
            waves.append(current)
            current, total = [], 0
        current.append(position)
        total += size
    if current:
        waves.append(current)
    large = [position for position, size in enumerate(sizes) if not is_small_file(size)]
    waves += [[position] for position in sorted(large, key=lambda p: sizes[p])]
    return waves


def run_parse_group(
    svc: StageContext,
    items: Sequence[tuple[str, int]],
    parse_many: ParseManyFn,
    report: Report | None = None,
) -> tuple[dict[str, Outcome], dict[str, Exception]]:
    """Parse several documents: one transaction claims them all; then, wave by wave (see
    ``parse_waves``), one ``parse_many`` call parses a wave and one transaction hands it to
    embedding. A file that cannot be parsed fails alone.

    Returns each document's outcome, and the exceptions of those released for a retry
    (transient failures). ``report``, when given, also receives every outcome once, as soon
    as it is known, so the next stage can start on a wave while the next wave is parsed."""
    results = Results(svc)
    outcomes, errors = results.outcomes, results.errors
    reported: set[str] = set()

    def send() -> None:
        fresh = [doc_id for doc_id in outcomes if doc_id not in reported]
        reported.update(fresh)
        if report is not None and fresh:
            report({d: outcomes[d] for d in fresh}, {d: errors[d] for d in fresh if d in errors})

    runs: list[tuple[Run, bytes]] = []

    def load_original(run: Run) -> None:
        runs.append((run, svc.blobs.get(original_key(run.tenant_id, run.doc_id, run.version))))

    results.claim(once_each(items), DocumentStage.PARSING, load_original)
    send()
    with contextlib.ExitStack() as beating:
        for run, _ in runs:
            beating.enter_context(heartbeat(svc, run))
        for wave in parse_waves([len(data) for _, data in runs]):
            batch = [runs[position] for position in wave]
            with metrics.timed(
                metrics.INGEST_STAGE_SECONDS.labels("parse"), "ingest.parse", files=len(batch)
            ):
                parsed = parse_many([(data, run.filename) for run, data in batch])
            _hand_over(svc, [run for run, _ in batch], parsed, results)
            send()
    return outcomes, errors


def _within_chunk_limit(svc: StageContext, count: int) -> None:
    """Refuse a document parsed into more chunks than the limit, before any is stored or
    embedded: it would hold the embed stage for hours (its slices still take turns with the
    other documents, but the model's time is the same)."""
    limit = svc.max_chunks_per_document
    if limit and count > limit:
        raise UnprocessableDocument(
            f"the document has {count:,} chunks of text (limit {limit:,}): split it into"
            " smaller files"
        )


def _hand_over(
    svc: StageContext,
    runs: list[Run],
    parse_results: list[ParseResult | Exception],
    results: Results,
) -> None:
    """Store a wave's chunks and pass its documents to the embed stage in one transaction."""
    end, outcomes = results.end, results.outcomes
    parsed: list[tuple[Run, int, dict[str, object]]] = []
    masks = IngestMasks(svc.sessions, svc.pii)
    for run, result in zip(runs, parse_results, strict=True):
        try:
            if isinstance(result, Exception):
                raise result
            chunks, facts = result
            if not chunks:
                raise UnprocessableDocument("no text could be extracted from this document")
            _within_chunk_limit(svc, len(chunks))
            # Masked here, before the chunks are kept: neither the blob beside the original,
            # nor the index, nor its keyword vectors ever hold the personal data.
            mask = masks.for_tenant(run.tenant_id)
            if mask is not None:
                chunks = mask_chunks(mask, chunks)
            # In pages: each embed slice reads only its own (``core.chunk_pages``). A chunk's
            # fields are flat (text, numbers, a tuple of names): a shallow copy is what
            # ``asdict``'s recursive one gave, for less.
            records = [dict(vars(c)) for c in chunks]
            write_chunks(svc.blobs, run.tenant_id, run.doc_id, run.version, records)
            parsed.append((run, len(chunks), facts))
        except Exception as exc:
            end(run, exc)
    values = {"stage": DocumentStage.EMBEDDING, "chunks_done": 0, "chunks_indexed": 0}
    try:
        with transaction(svc.sessions) as session:
            held = doc_queries.release_many(
                session,
                [
                    (run.doc_id, run.token, {**values, "chunks_total": count, "parse_info": facts})
                    for run, count, facts in parsed
                ],
            )
            job_queries.end_jobs(
                session, [run.job_id for run, _, _ in parsed if run.doc_id in held], "done"
            )
        lost = [run for run, _, _ in parsed if run.doc_id not in held]
    except Exception as exc:
        for run, _, _ in parsed:
            end(run, exc)
        return
    for run, _, _ in parsed:
        outcomes[run.doc_id] = Outcome.EMBED_NEXT
    for run in lost:
        outcomes[run.doc_id] = close_run(svc, run, ClaimLost(run.doc_id), reraise=False)
