"""Matching names a person types against stored ones: LIKE patterns that take the typed
``%`` and ``_`` literally (the forms of a name in both Chinese scripts are
``core.text_forms.name_forms``)."""

from __future__ import annotations


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE with ``\\`` as the escape: the user's ``%``, ``_`` and ``\\`` match
    themselves, never as wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
