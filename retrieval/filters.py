"""The metadata filters a caller may add to a search, compiled to the store's neutral filter.

They narrow what the permission filter admits; they can never widen it (the store ANDs the
scope with every filter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidInput
from core.file_types import FORMAT_MIME_TYPES
from core.text_forms import tag_forms
from index import types as fields
from index.filters import Condition, Filter, all_of

MAX_VALUES = 100


@dataclass(frozen=True)
class MetadataFilters:
    document_ids: tuple[str, ...] = ()
    # Any of these tags.
    tags: tuple[str, ...] = ()
    # Extensions ("pdf", "docx") or MIME types.
    file_types: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None

    def to_filter(self) -> Filter | None:
        for name in ("document_ids", "tags", "file_types"):
            if len(getattr(self, name)) > MAX_VALUES:
                raise InvalidInput(f"at most {MAX_VALUES} values in {name}")
        parts: list[Filter | None] = []
        if self.document_ids:
            parts.append(Condition(fields.DOC_ID, "in", list(self.document_ids)))
        if self.tags:
            # Any form of each (either script, either width), as the document list matches.
            forms = sorted({form for tag in self.tags for form in tag_forms(tag)})
            parts.append(Condition(fields.TAGS, "in", forms))
        if self.file_types:
            parts.append(Condition(fields.MIME_TYPE, "in", [_mime(t) for t in self.file_types]))
        if self.created_after is not None:
            parts.append(Condition(fields.CREATED_AT, ">=", _epoch(self.created_after)))
        if self.created_before is not None:
            parts.append(Condition(fields.CREATED_AT, "<", _epoch(self.created_before)))
        return all_of(*parts)

    def describe(self) -> dict[str, object]:
        """A JSON-able summary for the audit record."""
        out: dict[str, object] = {}
        for name in ("document_ids", "tags", "file_types"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        for name in ("created_after", "created_before"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).isoformat()
        return out


def _mime(file_type: str) -> str:
    value = file_type.strip().lower().lstrip(".")
    if "/" in value:
        return value
    if value in FORMAT_MIME_TYPES:
        return FORMAT_MIME_TYPES[value]
    known = ", ".join(sorted(FORMAT_MIME_TYPES))
    raise InvalidInput(f"unknown file type {file_type!r}; use a MIME type or one of: {known}")


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise InvalidInput("dates need a time zone, e.g. 2026-01-31T00:00:00Z")
    return moment.timestamp()
