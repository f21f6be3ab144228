"""Which personal-data redaction a tenant has chosen (``core.settings_pii``), and the masks
that follow from it: at ingestion (``workers.parse_stage``) and on what is served (answers,
sources, search results, cited passages).

The API reads a tenant's mode once per ``cache_s`` (a search must not wait on one more query);
a change made through this process is in force at once (``services.tenant_settings``), one made
through another within ``cache_s``. Ingestion reads it afresh for every group it parses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TypeVar

from core.db import tenant_settings as store
from core.db.session import SessionFactory
from core.pii_redact import Language, Redactor, StreamRedactor, language_of
from core.settings_pii import Mode, PiiSettings
from ingest.types import Chunk
from services import tenant_settings

MODES: tuple[Mode, ...] = ("off", "ingest", "answers", "both")
T = TypeVar("T")


def redactor_for(settings: PiiSettings, language: Language | None = None) -> Redactor:
    kinds = frozenset(settings.kinds) if settings.kinds else None
    return Redactor(style=settings.style, kinds=kinds, language=language)


def modes_of(
    sessions: SessionFactory, settings: PiiSettings, tenant_ids: Iterable[str]
) -> dict[str, Mode]:
    """Each tenant's mode in force: its own choice, else the deployment's default."""
    modes: dict[str, Mode] = {}
    with sessions() as session:
        for tenant_id in set(tenant_ids):
            row = store.settings_of(session, tenant_id)
            chosen = row.pii_redaction if row is not None else None
            modes[tenant_id] = chosen if chosen in MODES else settings.default_mode  # type: ignore[assignment]
    return modes


def masks_ingest(mode: Mode) -> bool:
    return mode in ("ingest", "both")


def masks_answers(mode: Mode) -> bool:
    return mode in ("answers", "both")


class PiiPolicy:
    """The API's view: a tenant's mode (cached), and the mask for what is served to it."""

    def __init__(self, sessions: SessionFactory, settings: PiiSettings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._cache: dict[str, tuple[float, Mode]] = {}
        self._lock = threading.Lock()

    def mode(self, tenant_id: str) -> Mode:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if (
            cached is not None
            and now - cached[0] < self._settings.cache_s
            and tenant_settings.changed_at(tenant_id) < cached[0]
        ):
            return cached[1]
        mode = modes_of(self._sessions, self._settings, [tenant_id])[tenant_id]
        with self._lock:
            self._cache[tenant_id] = (now, mode)
        return mode

    def served(self, tenant_id: str, language: Language | None = None) -> Redactor | None:
        """The mask for text served to ``tenant_id``'s members; None when it masks nothing.
        ``language``: the reader's (an answer's), else each text's own."""
        if not masks_answers(self.mode(tenant_id)):
            return None
        return redactor_for(self._settings, language)


def mask_fields(redactor: Redactor | None, item: T, *names: str) -> T:
    """``item`` (a dataclass) with its text fields ``names`` masked."""
    if redactor is None:
        return item
    masked = {name: redactor.redact(getattr(item, name)) for name in names}
    return replace(item, **masked)  # type: ignore[type-var]


def mask_chunks(redactor: Redactor, chunks: list[Chunk]) -> list[Chunk]:
    """The chunks as they will be embedded and kept: text, table HTML and headings masked, all
    with tokens in the chunk's own language (a Chinese table's cells get Chinese tokens)."""
    masked = []
    for chunk in chunks:
        mask = redactor
        if mask.language is None:
            mask = replace(mask, language=language_of(chunk.text + "".join(chunk.section_path)))
        masked.append(
            replace(
                chunk,
                text=mask.redact(chunk.text),
                html=mask.redact(chunk.html) if chunk.html else chunk.html,
                section_path=tuple(mask.redact(part) for part in chunk.section_path),
            )
        )
    return masked


class IngestMasks:
    """The ingestion stages' view: each tenant's mask for chunks (None: kept as written),
    read once per group of documents."""

    def __init__(self, sessions: SessionFactory, settings: PiiSettings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._modes: dict[str, Mode] = {}

    def for_tenant(self, tenant_id: str) -> Redactor | None:
        if tenant_id not in self._modes:
            self._modes.update(modes_of(self._sessions, self._settings, [tenant_id]))
        return redactor_for(self._settings) if masks_ingest(self._modes[tenant_id]) else None


class Unmasked:
    """A stream mask that masks nothing (the tenant's answers are served as written)."""

    def feed(self, piece: str) -> str:
        return piece

    def flush(self) -> str:
        return ""


def stream_mask(redactor: Redactor | None) -> StreamRedactor | Unmasked:
    return redactor.stream() if redactor is not None else Unmasked()
