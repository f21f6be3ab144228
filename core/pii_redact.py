"""Masking the personal data ``core.pii`` finds: a typed token (``[身份证号]``, ``[ID number]``)
or a partial mask (``138****5678``), over a whole text or over a stream of pieces.

On a stream a number can arrive split over pieces (``138`` ``1234`` ``5678``), so the tail
that could still grow into personal data is held back until a character that can end no
number (Chinese text, most punctuation) or a word without digits after a space arrives; the
hold is bounded, so a reply that is all digits still flows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from core import pii
from core.text_forms import chinese_script

Style = Literal["token", "partial"]
Language = Literal["en", "zh-Hans", "zh-Hant"]

TOKENS: dict[str, dict[str, str]] = {
    "en": {
        pii.ID_CN: "[ID number]",
        pii.ID_HK: "[ID number]",
        pii.ID_TW: "[ID number]",
        pii.BANK_CARD: "[card number]",
        pii.MOBILE_CN: "[phone number]",
        pii.LANDLINE_CN: "[phone number]",
        pii.MOBILE_TW: "[phone number]",
        pii.LANDLINE_TW: "[phone number]",
        pii.PHONE_HK: "[phone number]",
        pii.PHONE_MO: "[phone number]",
        pii.PHONE: "[phone number]",
        pii.EMAIL: "[email]",
    },
    "zh-Hans": {
        pii.ID_CN: "[身份证号]",
        pii.ID_HK: "[身份证号]",
        pii.ID_TW: "[身份证号]",
        pii.BANK_CARD: "[银行卡号]",
        pii.MOBILE_CN: "[手机号]",
        pii.LANDLINE_CN: "[电话号码]",
        pii.MOBILE_TW: "[手机号]",
        pii.LANDLINE_TW: "[电话号码]",
        pii.PHONE_HK: "[电话号码]",
        pii.PHONE_MO: "[电话号码]",
        pii.PHONE: "[电话号码]",
        pii.EMAIL: "[邮箱]",
    },
    "zh-Hant": {
        pii.ID_CN: "[身分證號]",
        pii.ID_HK: "[身分證號]",
        pii.ID_TW: "[身分證號]",
        pii.BANK_CARD: "[銀行卡號]",
        pii.MOBILE_CN: "[手機號]",
        pii.LANDLINE_CN: "[電話號碼]",
        pii.MOBILE_TW: "[手機號]",
        pii.LANDLINE_TW: "[電話號碼]",
        pii.PHONE_HK: "[電話號碼]",
        pii.PHONE_MO: "[電話號碼]",
        pii.PHONE: "[電話號碼]",
        pii.EMAIL: "[郵箱]",
    },
}
# Characters kept visible by the partial mask: (first, last) of the digits or letters.
_KEEP = {
    pii.ID_CN: (6, 4),
    pii.ID_HK: (1, 1),
    pii.ID_TW: (1, 2),
    pii.BANK_CARD: (4, 4),
    pii.MOBILE_CN: (3, 4),
    pii.LANDLINE_CN: (4, 4),
    pii.MOBILE_TW: (4, 3),  # 0912-***-678, as Taiwan's own services mask
    pii.LANDLINE_TW: (3, 3),
    pii.PHONE_HK: (2, 2),
    pii.PHONE_MO: (2, 2),
    pii.PHONE: (3, 2),
}
_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
# What may continue a number or an address still arriving: letters, digits (full-width too),
# and the separators and signs they are written with.
_OPEN = re.compile(
    r"[0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a+\uff0b()\uff08\uff09\-\uff0d .@_%\u3000]"
)
_DIGIT = re.compile(r"[0-9\uff10-\uff19]")
# Kept from the text already sent, for the words before a number (订单号, 身份证).
CONTEXT_CHARS = 24
# The longest tail held back: more than any number with its separators, and an e-mail address.
MAX_HELD_CHARS = 256


def language_of(text: str) -> Language:
    """The token language for a text whose reader is not known (a document): Chinese in the
    text's own script if it has Han characters (a Taiwan customer file gets [手機號]), else
    English."""
    if not _HAN.search(text):
        return "en"
    return "zh-Hant" if chinese_script(text) == "traditional" else "zh-Hans"


@dataclass(frozen=True)
class Redactor:
    """What to mask and how; ``kinds`` None masks every kind ``core.pii`` knows."""

    style: Style = "token"
    kinds: frozenset[str] | None = None
    language: Language | None = None  # None: each text's own (``language_of``)

    def findings(self, text: str, context: str = "") -> list[pii.Finding]:
        """The findings in ``text``, read after ``context`` (already sent, not masked again)."""
        if not context:
            return pii.find(text, self.kinds)
        shift = len(context)
        return [
            pii.Finding(f.kind, f.start - shift, f.end - shift, f.text)
            for f in pii.find(context + text, self.kinds)
            if f.start >= shift
        ]

    def redact(self, text: str, context: str = "") -> str:
        found = self.findings(text, context)
        if not found:
            return text
        language = self.language or language_of(context + text)
        out: list[str] = []
        at = 0
        for f in found:
            out.append(text[at : f.start])
            out.append(self.mask(f, language))
            at = f.end
        out.append(text[at:])
        return "".join(out)

    def mask(self, finding: pii.Finding, language: Language) -> str:
        if self.style == "token":
            return TOKENS[language][finding.kind]
        if finding.kind == pii.EMAIL:
            local, _, domain = finding.text.partition("@")
            return f"{local[:1]}***@{domain}"
        first, last = _KEEP[finding.kind]
        folded = pii.fold(finding.text)
        if finding.kind in (pii.MOBILE_CN, pii.LANDLINE_CN) and folded[:1] in "+0":
            # +86 / 0086 in front stays visible with the number's own first digits.
            first += 2 if folded.startswith("+") else 4 if folded.startswith("0086") else 0
        # Separators stay where they were (138-****-5678); only digits and letters are hidden.
        positions = [i for i, ch in enumerate(finding.text) if ch.isalnum()]
        hidden = set(positions[first : len(positions) - last])
        return "".join("*" if i in hidden else ch for i, ch in enumerate(finding.text))

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


@dataclass
class StreamRedactor:
    """Masks a text that arrives in pieces: ``feed`` each piece, then ``flush`` once. With a
    fixed ``language``, the pieces it returns, joined, mask what ``redactor.redact`` of the
    whole would."""

    redactor: Redactor
    _held: str = ""
    _sent: str = field(default="", repr=False)  # the end of the text sent: context

    def feed(self, piece: str) -> str:
        self._held += piece
        cut = _safe_cut(self._held)
        if cut == 0:
            return ""
        return self._send(cut)

    def flush(self) -> str:
        return self._send(len(self._held)) if self._held else ""

    def _send(self, cut: int) -> str:
        ready, self._held = self._held[:cut], self._held[cut:]
        out = self.redactor.redact(ready, self._sent)
        self._sent = (self._sent + ready)[-CONTEXT_CHARS:]
        return out


def _safe_cut(held: str) -> int:
    """How much of ``held`` can be masked and sent now: up to the last character no number or
    address can span, or up to the space after the last word without digits; everything but
    the last ``MAX_HELD_CHARS`` when the tail has neither."""
    cut = 0
    word_start = 0
    for i, ch in enumerate(held):
        if not _OPEN.match(ch):
            cut = i + 1
            word_start = i + 1
        elif ch in " \u3000":
            word = held[word_start:i]
            # An address is whole at a space; a word with digits or a + may go on past one.
            if word and not _DIGIT.search(word) and "+" not in word:
                cut = i + 1
            word_start = i + 1
    if len(held) - cut > MAX_HELD_CHARS:
        cut = len(held) - MAX_HELD_CHARS
    return cut
