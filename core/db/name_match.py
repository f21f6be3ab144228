"""Matching names a person types against stored ones: LIKE patterns that take the typed
``%`` and ``_`` literally, and a name in both Chinese scripts."""

from __future__ import annotations

from core.text_forms import fold_width, to_simplified, to_traditional


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE with ``\\`` as the escape: the user's ``%``, ``_`` and ``\\`` match
    themselves, never as wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def name_forms(text: str) -> set[str]:
    """``text`` as typed, and with its Chinese written in each script (full-width letters as
    ASCII): the forms a name search matches titles and file names in."""
    folded = fold_width(text)
    return {text, folded, to_simplified(folded), to_traditional(folded)}


def tag_forms(tag: str) -> list[str]:
    """The tags a tag filter matches: ``tag`` in either Chinese script, full-width letters as
    ASCII (公開 finds 公开, ＶＩＰ finds VIP), as a name search matches names. Sorted, so a
    filter built from them is the same each time."""
    return sorted(name_forms(tag.strip()))
