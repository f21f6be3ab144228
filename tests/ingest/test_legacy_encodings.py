"""CSV, TSV, Markdown and HTML saved in a Chinese Windows code page (GBK, Big5) without a
declared charset read as the characters their authors typed; a page that declares its charset
is read by that declaration."""

from __future__ import annotations

import pytest

from tests.ingest.helpers import parse_bytes

ROWS_SIMPLIFIED = "年份,主体信用评级,评级机构\n2022年,AA+,中诚信国际\n2023年,AAA,联合资信\n"
ROWS_TRADITIONAL = "年份,主體信用評級,評級機構\n2022年,AA+,中誠信國際\n"


def _text(name: str, data: bytes) -> str:
    return "\n".join(e.text for e in parse_bytes(data, name).elements)


@pytest.mark.parametrize(
    ("name", "text", "encoding"),
    [
        ("评级.csv", ROWS_SIMPLIFIED, "gbk"),
        ("評級.csv", ROWS_TRADITIONAL, "big5"),
        ("评级.tsv", ROWS_SIMPLIFIED.replace(",", "\t"), "gb18030"),
        ("说明.md", "# 评级说明\n\n中诚信国际给予发行人 AA+ 评级。\n", "gbk"),
        (
            "说明.html",
            "<html><body><h1>评级说明</h1><p>中诚信国际给予发行人AA+评级。</p></body></html>",
            "gbk",
        ),
        ("utf16.csv", ROWS_SIMPLIFIED, "utf-16"),
    ],
)
def test_chinese_code_pages_without_a_declaration(name: str, text: str, encoding: str) -> None:
    got = _text(name, text.encode(encoding))
    assert "中诚信国际" in got or "中誠信國際" in got
    assert "AA+" in got


def test_a_declared_charset_is_honoured() -> None:
    page = '<html><head><meta charset="gbk"></head><body><p>联合资信给予AAA评级。</p></body></html>'
    assert "联合资信给予AAA评级。" in _text("page.html", page.encode("gbk"))
