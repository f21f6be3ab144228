"""Bytes of a plain-text file → ``str``: the encoding from its BOM, UTF-8, or a legacy Chinese
or Western code page; and a refusal for bytes that decode to no readable text.

Order, and why:

1. A BOM decides (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE), strictly: bytes that break the
   encoding their BOM declares are not a text file.
2. Strict UTF-8: multi-byte sequences are self-checking, so legacy text almost never passes.
   Then UTF-8 with a few broken sequences (a file cut mid-character, a stray byte, a lone
   surrogate from a Windows name): when its valid multi-byte characters outnumber the broken
   sequences twenty to one, it is UTF-8 with U+FFFD in those places (``UTF8_REPAIRED``),
   not a legacy file to misread whole. Legacy text breaks UTF-8 at nearly every character.
3. GB18030 (a superset of GBK and GB2312) or Big5 (as cp950, Windows' Big5), the encodings of
   Chinese files saved by Windows in mainland China and in Taiwan/Hong Kong. Big5 bytes often
   decode as GBK and the reverse, without error and into nonsense, so each reading is scored:
   the share of its Chinese characters that are common ones (GB2312's hanzi for GBK, Big5's
   level-1 hanzi for Big5). Real text scores above 0.9; the wrong reading scores far lower.
   Then UTF-16 without a BOM whose text is mostly Chinese (few or no NUL bytes to tell it
   by, unlike Latin UTF-16, which step 1's neighbour ``utf16_without_bom`` recognises before
   UTF-8): read as UTF-16 LE or BE, nearly every character must be a common hanzi, ASCII or
   CJK punctuation. Only after UTF-8 has failed: two ASCII letters read as one UTF-16 unit
   are often a hanzi.
4. charset-normalizer for anything else (cp1252, Cyrillic, Hebrew...), accepted only when it is
   confident (its "chaos" measure is low); cp1252 wins a tie.
5. Whatever the encoding, text in which control, private-use or replacement characters are
   common is binary data that happened to pass the text sniffing in ``ingest.formats``.
"""

from __future__ import annotations

import codecs
import re

from core.errors import UnprocessableDocument

_BOMS = (
    # UTF-32 LE first: its BOM begins with UTF-16 LE's.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Characters no text file holds in number: C0 controls other than whitespace, DEL, C1
# controls, private use, the replacement character.
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f\ue000-\uf8ff\ufffd]")
_SAMPLE_CHARS = 100_000
MAX_UNREADABLE_SHARE = 0.02
MIN_COMMON_HAN_SHARE = 0.9
_MAX_CHAOS = 0.2


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """``(text, encoding)``; raises ``UnprocessableDocument`` for bytes that are not text."""
    text, encoding = _decode(data, name)
    sample = text[:_SAMPLE_CHARS]
    if sample and len(_UNREADABLE.findall(sample)) > len(sample) * MAX_UNREADABLE_SHARE:
        raise UnprocessableDocument(
            f"{name} is not readable text: it holds binary data or uses an unknown encoding"
        )
    return text, encoding


def _decode(data: bytes, name: str) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                label = encoding.upper().replace("-SIG", "")
                raise UnprocessableDocument(
                    f"{name} is not readable text: it starts with a {label} byte-order mark "
                    f"but is not valid {label}"
                ) from exc
    unmarked = _decoded_as(data, utf16_without_bom(data))
    if unmarked is not None:
        return unmarked
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    repaired = _mostly_utf8(data)
    if repaired is not None:
        return repaired, UTF8_REPAIRED
    chinese = _chinese_reading(data)
    if chinese is not None:
        return chinese
    wide = _decoded_as(data, utf16_chinese_without_bom(data))
    if wide is not None:
        return wide
    return _guessed_reading(data, name)


def _decoded_as(data: bytes, encoding: str | None) -> tuple[str, str] | None:
    """``data`` read as ``encoding`` (a guess, None for none) with its name; None if it fails."""
    if encoding is None:
        return None
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError:
        return None


UTF8_REPAIRED = "utf-8 (broken sequences replaced)"
MAX_BROKEN_UTF8_SHARE = 0.05
_REPLACED_RUNS = re.compile("\ufffd+")


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` as UTF-8 with U+FFFD for its broken sequences, when those are rare among its
    valid multi-byte characters; None when it is not UTF-8 with a few faults."""
    # Not final: a character cut off by the file's end is dropped, not replaced.
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False)
    # A broken sequence became a run of U+FFFD (one per byte): one is enough to mark it. A
    # real U+FFFD is valid UTF-8.
    text = _REPLACED_RUNS.sub("\ufffd", text)
    broken = text.count("\ufffd") - data.count("\ufffd".encode())
    wide = sum(1 for ch in text if ch > "\x7f" and ch != "\ufffd")
    return text if broken <= wide * MAX_BROKEN_UTF8_SHARE else None


def utf16_without_bom(data: bytes) -> str | None:
    """ "utf-16-le" or "utf-16-be" for UTF-16 text saved without a byte-order mark (Windows
    tools do), told by its NUL bytes: Latin text has one in every other position, on the
    same side. Chinese UTF-16 has few NULs: ``utf16_chinese_without_bom`` reads it."""
    head = data[:4096]
    if len(head) < 8 or b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul > 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


_CJK_PUNCTUATION = re.compile(r"[\u2000-\u206f\u3000-\u30ff\uff00-\uffef]")
MIN_UTF16_READABLE_SHARE = 0.95


def utf16_chinese_without_bom(data: bytes) -> str | None:
    """ "utf-16-le" or "utf-16-be" for mostly-Chinese UTF-16 text saved without a byte-order
    mark, told by what it reads as: nearly all common hanzi, ASCII and CJK punctuation, with
    hanzi among them. Call it only on bytes that are not UTF-8 (see the module's step 3)."""
    head = data[:8192]
    if len(head) < 8:
        return None
    best: tuple[float, str] | None = None
    for encoding in ("utf-16-le", "utf-16-be"):
        try:  # not final: a character cut at the end of the sample is no error
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        if not text or _UNREADABLE.search(text):
            continue
        han = [ch for ch in _HAN.findall(text) if _common_in_gb2312(ch) or _common_in_big5(ch)]
        ascii_chars = sum(1 for ch in text if " " <= ch <= "~" or ch in "\t\r\n")
        readable = len(han) + ascii_chars + len(_CJK_PUNCTUATION.findall(text))
        share = readable / len(text)
        if han and share >= MIN_UTF16_READABLE_SHARE and (best is None or share > best[0]):
            best = (share, encoding)
    return best[1] if best else None


def _chinese_reading(data: bytes) -> tuple[str, str] | None:
    """GB18030 or Big5, when one of them reads ``data`` as mostly common Chinese characters."""
    best: tuple[float, str, str] | None = None
    for encoding, common in (("gb18030", _common_in_gb2312), ("cp950", _common_in_big5)):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        han = _HAN.findall(text)
        if not han:
            continue
        score = sum(1 for ch in han if common(ch)) / len(han)
        if score >= MIN_COMMON_HAN_SHARE and (best is None or score > best[0]):
            best = (score, text, encoding)
    return (best[1], best[2]) if best else None


def _common_in_gb2312(ch: str) -> bool:
    try:
        encoded = ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return 0xB0 <= encoded[0] <= 0xF7  # GB2312's hanzi rows (levels 1 and 2)


def _common_in_big5(ch: str) -> bool:
    try:
        encoded = ch.encode("cp950")
    except UnicodeEncodeError:
        return False
    return 0xA4 <= encoded[0] <= 0xC6  # Big5's level 1: the 5,401 frequent hanzi


def _guessed_reading(data: bytes, name: str) -> tuple[str, str]:
    from charset_normalizer import from_bytes  # imported late: only legacy files need it

    matches = from_bytes(data[:_SAMPLE_CHARS])
    match = matches.best()
    # Readings that are equally clean are ranked arbitrarily (cp1250 before cp1252 for
    # "crème brûlée"): the Windows Western code page is by far the most common of them.
    western = [m for m in matches if m.encoding == "cp1252" and m.chaos <= (match or m).chaos]
    match = western[0] if western else match
    if match is None or match.chaos > _MAX_CHAOS:
        raise UnprocessableDocument(
            f"{name} is not readable text: its encoding was not recognised (save it as UTF-8)"
        )
    try:
        return data.decode(match.encoding), match.encoding
    except UnicodeDecodeError as exc:  # the guess held for the sample only
        raise UnprocessableDocument(
            f"{name} is not readable text: its encoding was not recognised (save it as UTF-8)"
        ) from exc


def decode_legacy_name(raw: bytes) -> str:
    """A file name stored without an encoding (a zip member written by Chinese Windows, which
    uses the ANSI code page: GBK or Big5): UTF-8 when it is valid, else the Chinese reading
    whose characters are common ones, else cp437 (the zip format's own default)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best: tuple[float, str] | None = None
    for encoding, common in (("gb18030", _common_in_gb2312), ("cp950", _common_in_big5)):
        try:
            name = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        # A name is short: one private-use or control character marks the wrong reading.
        if _UNREADABLE.search(name):
            continue
        han = _HAN.findall(name)
        if han:
            score = sum(1 for ch in han if common(ch)) / len(han)
            if score >= MIN_COMMON_HAN_SHARE and (best is None or score > best[0]):
                best = (score, name)
    return best[1] if best else raw.decode("cp437")
