"""Plain text through our own parser (ingest.plain_text): encodings, paragraphs, headings and
their nesting, lists, in English, Simplified and Traditional Chinese and mixed; and files that
are not text at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import UnprocessableDocument
from core.settings import ChunkingSettings, LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.chunking import Chunker
from ingest.formats import detect_type
from ingest.parsing import parse_document
from ingest.text_decoding import UTF8_REPAIRED, utf16_chinese_without_bom
from ingest.types import Element
from tests.ingest.helpers import parse_bytes
from tests.support import TEST_EMBEDDING_MODEL

UNSTRUCTURED = "unstructured-example-docs"

ENGLISH = """\
Pump Maintenance Manual

1 Scope
This manual covers the north plant pumps and the valves that feed them.

1.2 Safety
Lock the breaker before any work. Wear gloves at all times.

Before you start

Walk around the pump once and check it.
- the breaker is locked
- the pressure gauge reads zero,
  and the drain valve is open
* the spare seals are at hand
• the log book is signed

2. Overhaul
The north pump is overhauled every two years by the plant engineers.
"""

SIMPLIFIED = """\
安全生产管理办法

第一章 总则

第一条 为了加强安全生产管理，保障员工的生命安全，制定本办法。
第二条 本办法适用于公司全体员工。

第二章 职责
一、总体要求
各部门应当落实安全生产责任制，定期开展安全检查。
（一）检查频次
每月至少检查一次，并做好记录。
1. 填写检查表；
2. 上报检查结果。
"""

TRADITIONAL = """\
資訊安全管理規範

第一章 總則
為確保公司資訊資產之機密性、完整性及可用性，特訂定本規範。

第二章 帳號管理
一、密碼原則
密碼長度至少十二個字元，並應每九十天更換一次。
"""


def _texts(elements: list[Element], kind: str) -> list[str]:
    return [element.text for element in elements if element.kind == kind]


def _path_of(elements: list[Element], start: str) -> tuple[str, ...]:
    return next(e.section_path for e in elements if e.text.startswith(start))


def test_english_headings_nest_and_lists_are_items() -> None:
    parsed = parse_bytes(ENGLISH.encode(), "manual.txt")
    elements = parsed.elements
    assert parsed.metadata["strategy"] == "plain_text"
    assert _texts(elements, "title") == [
        "Pump Maintenance Manual",
        "1 Scope",
        "1.2 Safety",
        "Before you start",
        "2. Overhaul",
    ]
    title = "Pump Maintenance Manual"
    assert _path_of(elements, "This manual covers") == (title, "1 Scope")
    assert _path_of(elements, "Lock the breaker") == (title, "1 Scope", "1.2 Safety")
    assert _path_of(elements, "Walk around") == (
        title,
        "1 Scope",
        "1.2 Safety",
        "Before you start",
    )
    assert _path_of(elements, "The north pump") == (title, "2. Overhaul")
    assert _texts(elements, "list_item") == [
        "the breaker is locked",
        "the pressure gauge reads zero, and the drain valve is open",
        "the spare seals are at hand",
        "the log book is signed",
    ]


def test_simplified_chinese_chapters_sections_and_items() -> None:
    elements = parse_bytes(SIMPLIFIED.encode(), "办法.txt").elements
    assert _texts(elements, "title") == [
        "安全生产管理办法",
        "第一章总则",  # spaces between Chinese characters are removed, as for every format
        "第二章职责",
        "一、总体要求",
        "（一）检查频次",
    ]
    assert _path_of(elements, "第一条") == ("安全生产管理办法", "第一章总则")
    assert _path_of(elements, "每月至少") == (
        "安全生产管理办法",
        "第二章职责",
        "一、总体要求",
        "（一）检查频次",
    )
    assert _texts(elements, "list_item") == ["1. 填写检查表；", "2. 上报检查结果。"]
    assert not any("，" in title for title in _texts(elements, "title"))


def test_traditional_chinese_in_big5_and_utf8_read_the_same() -> None:
    utf8 = parse_bytes(TRADITIONAL.encode(), "規範.txt")
    big5 = parse_bytes(TRADITIONAL.encode("big5"), "規範.txt")
    assert big5.metadata["encoding"] == "cp950"
    assert big5.elements == utf8.elements
    assert _texts(utf8.elements, "title") == [
        "資訊安全管理規範",
        "第一章總則",
        "第二章帳號管理",
        "一、密碼原則",
    ]
    assert _path_of(utf8.elements, "密碼長度") == (
        "資訊安全管理規範",
        "第二章帳號管理",
        "一、密碼原則",
    )


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
        ("utf-16-be-bom", "utf-16"),
        ("utf-32", "utf-32"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
    ],
)
def test_encodings_of_chinese_files(encoding: str, expected: str) -> None:
    if encoding == "utf-16-be-bom":
        data = "\ufeff".encode("utf-16-be") + SIMPLIFIED.encode("utf-16-be")
    else:
        data = SIMPLIFIED.encode(encoding)
    parsed = parse_bytes(data, "办法.txt")
    assert parsed.metadata["encoding"] == expected
    assert parsed.elements == parse_bytes(SIMPLIFIED.encode(), "办法.txt").elements
    assert not parsed.elements[0].text.startswith("\ufeff")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [SIMPLIFIED, TRADITIONAL, "\u3000".join(["知识库"] * 400)])
def test_chinese_utf16_without_a_bom_is_text(encoding: str, text: str) -> None:
    # Few NULs (only ASCII spaces and digits have one) or none: read by what it decodes to.
    data = text.encode(encoding)
    assert detect_type(data, "办法.txt") == "txt"
    parsed = parse_bytes(data, "办法.txt")
    assert parsed.metadata["encoding"] == encoding
    assert parsed.elements == parse_bytes(text.encode(), "办法.txt").elements


@pytest.mark.parametrize("encoding", ["gbk", "big5", "cp1252"])
def test_legacy_text_is_never_read_as_utf16(encoding: str) -> None:
    text = TRADITIONAL if encoding == "big5" else SIMPLIFIED
    if encoding == "cp1252":
        text = "Café menu: the crème brûlée costs 7 €, the café au lait 3 €.\n" * 40
    assert utf16_chinese_without_bom(text.encode(encoding)) is None
    assert not parse_bytes(text.encode(encoding), "a.txt").metadata["encoding"].startswith("utf-16")


def test_random_bytes_do_not_pass_as_chinese_utf16() -> None:
    assert not [n for n in range(300) if utf16_chinese_without_bom(os.urandom(64 + n * 16))]


@pytest.mark.parametrize(
    "fault",
    [b"\xed\xa0\x80", "知".encode()[:2] + b"\n", b"\xe9", b"\xff"],
    ids=["lone-surrogate", "cut-character", "latin-1-byte", "stray-byte"],
)
@pytest.mark.parametrize("text", [SIMPLIFIED, TRADITIONAL])
def test_utf8_with_a_broken_sequence_is_read_as_utf8(fault: bytes, text: str) -> None:
    # It was refused whole: "its encoding was not recognised (save it as UTF-8)".
    head, tail = text.split("\n", 1)
    parsed = parse_bytes(head.encode() + fault + b"\n" + tail.encode(), "notes.txt")
    assert parsed.metadata["encoding"] == UTF8_REPAIRED
    clean = parse_bytes(text.encode(), "notes.txt").elements
    assert [e.text.replace("\ufffd", "") for e in parsed.elements] == [e.text for e in clean]
    # A file cut in the middle of its last character: that character is left out.
    assert parse_bytes(text.encode() + "知".encode()[:2], "cut.txt").elements == clean


def test_ascii_with_one_latin1_byte_is_still_a_legacy_file() -> None:
    # No valid multi-byte character: no evidence of UTF-8, so "café" keeps its é.
    text = "The café opens at nine. " * 20
    assert "café" in parse_bytes(text.encode("cp1252"), "menu.txt").elements[0].text


def test_western_legacy_encoding() -> None:
    text = "Café menu\n\nThe crème brûlée costs 7 €, the café au lait 3 €. Señor Müller agrees.\n"
    parsed = parse_bytes(text.encode("cp1252"), "menu.txt")
    assert parsed.elements[1].text == text.split("\n\n")[1].strip()


def test_mixed_chinese_and_english_text_and_wrapped_lines() -> None:
    text = (
        "Zhiku 知识库 User Guide\n\n"
        "Zhiku 是一个企业知识库平台，支持中文和英文文档的检索与问答。上传文件后，系统会自动\n"
        "解析、分块并建立索引，用户即可用自然语言提问。\n\n"
        "The platform parses, chunks and indexes every upload, so that people can ask\n"
        "questions in plain language and get answers with citations.\n"
    )
    elements = parse_bytes(text.encode(), "guide.txt").elements
    assert elements[0] == Element("Zhiku 知识库 User Guide", "title")
    # Wrapped lines are joined: with nothing between Chinese characters, a space in English.
    assert "系统会自动解析、分块" in elements[1].text
    assert "can ask questions in plain language" in elements[2].text
    assert [e.section_path for e in elements[1:]] == [("Zhiku 知识库 User Guide",)] * 2


def test_a_first_heading_followed_by_text_is_a_section_not_the_file_title() -> None:
    report = (
        "Quarterly Results\n\n"
        "The company reported higher revenue this quarter and expects growth to continue.\n\n"
        "Outlook\n\n"
        "Management plans to open two new plants next year."
    )
    elements = parse_bytes(report.encode(), "report.txt").elements
    assert [(e.kind, e.section_path) for e in elements] == [
        ("title", ()),
        ("text", ("Quarterly Results",)),
        ("title", ()),
        ("text", ("Outlook",)),
    ]
    chinese = (
        "项目简介\n\n本项目旨在为企业提供一个自托管的知识库平台，支持权限控制和基于文档的问答。\n\n"
        "部署方式\n\n系统可以在一台服务器上运行，也可以拆分为多个服务\n\n数据库使用 PostgreSQL。"
    )
    elements = parse_bytes(chinese.encode(), "说明.txt").elements
    assert [e.kind for e in elements] == ["title", "text", "title", "text", "text"]
    assert elements[4].section_path == ("部署方式",)


def test_short_lines_keep_their_breaks_and_sentences_are_not_titles() -> None:
    text = "This is a test document to use for unit tests.\n\nDoylestown, PA 18901\nUSA\n"
    elements = parse_bytes(text.encode(), "fake.txt").elements
    assert [e.kind for e in elements] == ["text", "text"]
    assert elements[1].text == "Doylestown, PA 18901\nUSA"


def test_chunks_keep_their_section_titles(docs: Path) -> None:
    from core.settings import EmbeddingSettings
    from index.tokens import token_counter

    chunker = Chunker(
        ChunkingSettings(), token_counter(EmbeddingSettings(model=TEST_EMBEDDING_MODEL))
    )
    chunks = chunker.chunk(parse_bytes(SIMPLIFIED.encode(), "办法.txt").elements)
    checks = next(chunk for chunk in chunks if "每月至少检查一次" in chunk.text)
    # Small sections are merged with the next one (ingest.chunking); headings stay in the text.
    assert checks.section_path[:2] == ("安全生产管理办法", "第二章职责")
    assert "（一）检查频次" in checks.text and "安全生产管理办法" in checks.text


def test_unstructured_stays_available_behind_the_setting(docs: Path) -> None:
    data = (docs / UNSTRUCTURED / "fake-text.txt").read_bytes()
    settings = ParsingSettings(plain_text="unstructured")
    old = parse_document(data, "fake-text.txt", settings, LimitsSettings())
    new = parse_bytes(data, "fake-text.txt")
    assert old.metadata["strategy"] == "native"
    assert (
        _texts(old.elements, "list_item")
        == _texts(new.elements, "list_item")
        == [
            "Hamburgers are delicious",
            "Dogs are the best",
            "I love fuzzy blankets",
        ]
    )


def test_utf16_example_file(docs: Path) -> None:
    name = "fake-text-utf-16.txt"  # with a BOM
    parsed = parse_bytes((docs / UNSTRUCTURED / name).read_bytes(), name)
    assert parsed.metadata["encoding"] == "utf-16"
    assert parsed.elements[0].text == "This is a test document to use for unit tests."


@pytest.mark.parametrize("data", [b"", b" \n\t \n", "\ufeff \u3000\n\n".encode()])
def test_empty_and_blank_files(data: bytes) -> None:
    with pytest.raises(UnprocessableDocument, match=r"empty|no text found"):
        parse_bytes(data, "blank.txt")


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),  # NULs: refused by the type check
        bytes(range(0x80, 0x100)) * 16,  # no NULs, no ASCII: passes the sniffing
        b"\xff\xfe" + os.urandom(4095),  # a UTF-16 BOM on random bytes
        b"\x01\x02\x03\x04 binary \x05\x06" * 200,
    ],
    ids=["random", "high-bytes", "bom-random", "controls"],
)
def test_binary_garbage_named_txt_is_refused_clearly(data: bytes) -> None:
    with pytest.raises(UnprocessableDocument) as refused:
        parse_bytes(data, "notes.txt")
    reason = str(refused.value)
    assert "not readable text" in reason or "not a text file" in reason
    assert "Error" not in reason and "Traceback" not in reason
