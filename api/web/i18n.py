"""The portal's words in Chinese and English, and which language a request gets.

One catalogue for every page: a key missing from one language is a test failure
(``tests/web/test_i18n.py``), never an English word in a Chinese page.
"""

from __future__ import annotations

import re
from typing import Any

from api.web.messages import admin, chat, common, documents, oidc, widget

ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (CHINESE, ENGLISH)
LANGUAGE_COOKIE = "zhiku_lang"
# Names shown in the switch, each in its own language.
LANGUAGE_NAMES = {CHINESE: "中文", ENGLISH: "English"}

# One module of words per page (``api/web/messages/``), merged here; the same key in two
# modules is an error at import, so pages cannot overwrite each other's words.
_PAGES = (common, documents, chat, admin, widget, oidc)


def _merge(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for page in _PAGES:
        words: dict[str, str] = getattr(page, "CHINESE" if language == CHINESE else "ENGLISH")
        clash = merged.keys() & words.keys()
        if clash:
            raise RuntimeError(f"{page.__name__} redefines {sorted(clash)}")
        merged.update(words)
    return merged


CATALOGUE: dict[str, dict[str, str]] = {ENGLISH: _merge(ENGLISH), CHINESE: _merge(CHINESE)}

_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?"
)


def text(language: str, key: str, **values: Any) -> str:
    words = CATALOGUE.get(language, CATALOGUE[ENGLISH])[key]
    return words.format(**values) if values else words


def supported(code: str | None) -> str | None:
    """The language we have for a tag: any Chinese is zh-CN, any English is en."""
    if not code:
        return None
    primary = code.strip().lower().split("-")[0]
    return CHINESE if primary == "zh" else ENGLISH if primary == "en" else None


def from_accept_language(header: str | None) -> str | None:
    """The first language of ``Accept-Language``, by quality, that we have."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "")[:1000].split(",")[:50]):
        match = _RANGE.match(part)
        if match is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        language = supported(match.group(1))
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def pick(
    query: str | None,
    cookie: str | None,
    accept_language: str | None,
    organisation: str | None = None,
) -> str:
    """The switch (``?lang=``) first, then the remembered choice, then the organisation's
    default (a tenant setting, for signed-in pages), then the browser's."""
    for choice in (query, cookie, organisation):
        if choice in LANGUAGES:
            return choice
    return from_accept_language(accept_language) or ENGLISH
