"""The portal's words in Chinese and English, and which language a request gets.

One catalogue for every page: a key missing from one language is a test failure
(``tests/web/test_i18n.py``), never an English word in a Chinese page. The Chinese is written
once, in Simplified; a reader whose tag asks for Traditional gets it converted by OpenCC, so
the scripts cannot drift: in Taiwan's words for zh-TW, zh-Hant-TW and a plain zh-Hant
(``core.text_forms.to_taiwan_wording``), in Hong Kong's forms and words for zh-HK, zh-MO,
zh-Hant-HK and zh-Hant-MO (``to_hong_kong_wording``). A plain zh-Hant reads Taiwan's: CLDR's
likely subtags complete zh-Hant as zh-Hant-TW (the largest Traditional-writing population), and
it is what such readers got before Hong Kong had its own.

:func:`supported` is the one rule, for every place that writes our words: these pages, the API's
messages (``api.reasons.language_of``) and the widget (``static/widget.js`` mirrors it); and
for the character forms of a model's answer to a Traditional question (``/v1/chat``,
``/v1/chat/completions``: ``GenerationOptions.hong_kong_forms``), whose script the question
tells, and whose region only the reader's language does.
"""

from __future__ import annotations

import re
from typing import Any

from api.web.messages import admin, chat, common, documents, oidc, widget
from core.text_forms import to_hong_kong_wording, to_taiwan_wording

ENGLISH = "en"
CHINESE = "zh-CN"  # Simplified
TRADITIONAL = "zh-Hant"  # in Taiwan's words: zh-TW, zh-Hant-TW, and a plain zh-Hant
HONG_KONG = "zh-HK"  # Traditional in Hong Kong's forms and words: zh-HK, zh-MO, zh-Hant-HK
CHINESES = (CHINESE, TRADITIONAL, HONG_KONG)
LANGUAGES = (CHINESE, TRADITIONAL, HONG_KONG, ENGLISH)
LANGUAGE_COOKIE = "zhiku_lang"
# Names shown in the switch, each in its own language. An organisation's default is one of
# these two: its "Chinese" reads Traditional for a reader whose browser asks for it (``pick``).
LANGUAGE_NAMES = {CHINESE: "中文", ENGLISH: "English"}
# Tags that ask for Traditional characters: the script subtag, or a region that writes them;
# Hong Kong's and Macau's regions ask for Hong Kong's forms.
_TRADITIONAL_SUBTAGS = frozenset({"hant", "tw"})
_HONG_KONG_REGIONS = frozenset({"hk", "mo"})
# How our Simplified words are written for each Traditional language.
WORDING = {TRADITIONAL: to_taiwan_wording, HONG_KONG: to_hong_kong_wording}

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
# Taiwan's and Hong Kong's words, not only their character forms: 登錄 reads as a mainland
# term in both.
for _language, _convert in WORDING.items():
    CATALOGUE[_language] = {key: _convert(words) for key, words in CATALOGUE[CHINESE].items()}

_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?"
)


def text(language: str, key: str, **values: Any) -> str:
    words = CATALOGUE.get(language, CATALOGUE[ENGLISH])[key]
    return words.format(**values) if values else words


def supported(code: str | None) -> str | None:
    """The language we have for a tag. Chinese not explicitly ``Hans`` (``zh-Hans-HK`` is
    Simplified) is zh-HK for Hong Kong's and Macau's regions (zh-HK, zh-MO, zh-Hant-HK),
    zh-Hant (Taiwan's words) for Taiwan's or the Traditional script alone (zh-TW, zh-Hant-TW,
    zh-Hant), else zh-CN; any English is en."""
    if not code:
        return None
    primary, *subtags = code.strip().lower().split("-")
    if primary == "zh":
        if "hans" in subtags:
            return CHINESE
        if _HONG_KONG_REGIONS.intersection(subtags):
            return HONG_KONG
        return TRADITIONAL if _TRADITIONAL_SUBTAGS.intersection(subtags) else CHINESE
    return ENGLISH if primary == "en" else None


def from_accept_language(header: str | None) -> str | None:
    """The first language of ``Accept-Language``, by quality, that we have."""
    ranked = _ranked(header)
    return ranked[0] if ranked else None


def chinese_of(header: str | None) -> str:
    """Which Chinese ``Accept-Language`` prefers: its best-ranked Chinese tag's, else
    Simplified."""
    return next((language for language in _ranked(header) if language != ENGLISH), CHINESE)


def _ranked(header: str | None) -> list[str]:
    """The languages of ``Accept-Language`` that we have, best first (quality, then order)."""
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
    return [language for _, _, language in sorted(ranked)]


def pick(
    query: str | None,
    cookie: str | None,
    accept_language: str | None,
    organisation: str | None = None,
) -> str:
    """The switch (``?lang=``) first, then the remembered choice, then the organisation's
    default (a tenant setting, for signed-in pages; its Chinese in the script the browser
    asks for), then the browser's."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    if organisation == CHINESE:
        return chinese_of(accept_language)
    if organisation in LANGUAGES:
        return organisation
    return from_accept_language(accept_language) or ENGLISH


def switch(language: str, accept_language: str | None) -> dict[str, str]:
    """The language switch's entries (code: name): its Chinese is the reader's Chinese, the
    page's own when it is Chinese, else the one the browser asks for."""
    chinese = language if language in CHINESES else chinese_of(accept_language)
    return {chinese: LANGUAGE_NAMES[CHINESE], ENGLISH: LANGUAGE_NAMES[ENGLISH]}
