"""Chunk boundaries where a section changes language (Chinese ↔ English)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from core.settings import ChunkingSettings
from ingest.chunking import Chunker
from ingest.script_runs import dominant_script, min_stretch_tokens, script_groups
from ingest.types import Element

Count = Callable[[str], int]
ENGLISH = (
    "The pump station keeps water pressure stable across the district. Operators check the "
    "valves every morning and record the readings in the log. When the pressure drops below "
    "the threshold, the backup pump starts automatically and an alarm is sent."
)
SIMPLIFIED = (
    "备注：本合同自双方签字之日起生效，有效期为三年。乙方应在每季度结束后十日内提交书面报告，"
    "逾期未交的，甲方有权暂停付款。"
)
TRADITIONAL = (
    "備註：本合約自雙方簽字之日起生效，有效期為三年。乙方應在每季度結束後十日內提交書面報告，"
    "逾期未交的，甲方有權暫停付款。"
)
CHINESE_NOTES = [SIMPLIFIED, TRADITIONAL]


def _chunker(count: Count, chunk: int = 128) -> Chunker:
    return Chunker(ChunkingSettings(chunk_tokens=chunk, overlap_tokens=16), count)


def _has_han(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


@pytest.mark.parametrize(
    ("text", "script"),
    [
        (ENGLISH, "latin"),
        ("Deploy the 知识库 service on Linux before the audit starts.", "latin"),
        (SIMPLIFIED, "han"),
        (TRADITIONAL, "han"),
        ("使用 Kubernetes 部署 API 服务器，并在上线前完成压力测试。", "han"),
        ("2024-05-01 12:00 ¥3,000", None),
        ("감염병 분류체계를 ‘급(級)’별로 개편하고 SARS, MERS 등을 포함한다.", None),
        ("コロナ関連の保険約款について説明します。", None),
        ("知识库 knowledge base 检索 retrieval", None),
    ],
)
def test_dominant_script(text: str, script: str | None) -> None:
    assert dominant_script(text) == script


@pytest.mark.parametrize("note", CHINESE_NOTES)
def test_a_manual_with_a_chinese_notes_paragraph_splits(token_count: Count, note: str) -> None:
    elements = [
        Element("Pump manual", "title", 1),
        Element(ENGLISH, "text", 1, ("Pump manual",)),
        Element(note, "text", 2, ("Pump manual",)),
    ]
    chunker = _chunker(token_count)
    # Both would fit one chunk: only the change of language separates them.
    assert token_count(ENGLISH + "\n\n" + note) < 128 - 8
    chunks = chunker.chunk(elements)
    assert [c.position for c in chunks] == [0, 1]
    assert chunks[0].text.startswith("Pump manual\n\nThe pump station")
    assert not _has_han(chunks[0].text)
    assert chunks[1].text == f"Pump manual\n{note}"
    assert [c.section_path for c in chunks] == [("Pump manual",), ("Pump manual",)]
    assert [(c.page, c.page_end) for c in chunks] == [(1, 1), (2, 2)]
    assert all(token_count(c.text) <= 128 for c in chunks)


@pytest.mark.parametrize("host", [ENGLISH, SIMPLIFIED + TRADITIONAL])
def test_a_short_foreign_note_stays_in(token_count: Count, host: str) -> None:
    note = "Note: see Annex 2." if dominant_script(host) == "han" else "备注：见附件二。"
    elements = [Element(host, "text", 1, ("Manual",)), Element(note, "text", 1, ("Manual",))]
    chunks = _chunker(token_count).chunk(elements)
    assert len(chunks) == 1
    assert chunks[0].text.endswith(note)


@pytest.mark.parametrize("contract", CHINESE_NOTES)
def test_a_chinese_contract_quoting_english_stays_one_chunk(
    token_count: Count, contract: str
) -> None:
    quoted = contract.replace(
        "有效期", "（英文原文：“This Agreement takes effect on signing.”）有效期"
    )
    own_paragraph = Element("“Force majeure” means any event beyond control.", "text", 1, ("合同",))
    for elements in (
        [Element(quoted, "text", 1, ("合同",))],
        [Element(contract, "text", 1, ("合同",)), own_paragraph],
    ):
        chunks = _chunker(token_count).chunk(elements)
        assert len(chunks) == 1, chunks


def test_alternating_short_bilingual_paragraphs_do_not_fragment(token_count: Count) -> None:
    english = [s + "." for s in ENGLISH.split(". ")]
    chinese = [s + "。" for s in re.split("[，。]", SIMPLIFIED) if s]
    paragraphs = [p for pair in zip(english * 2, chinese, strict=False) for p in pair]
    elements = [Element(p, "text", 1, ("双语 Bilingual",)) for p in paragraphs]
    # Every paragraph is under the least a stretch needs: a note, not a topic of its own.
    least = min_stretch_tokens(256)
    assert max(token_count(p) for p in paragraphs) < least
    assert len(script_groups(elements, token_count, least)) == 1
    chunks = _chunker(token_count, chunk=256).chunk(elements)
    assert len(chunks) == 1  # packed as before: no extra small chunks
    assert "pump" in chunks[0].text and _has_han(chunks[0].text)


@pytest.mark.parametrize("note", CHINESE_NOTES)
def test_long_sides_fit_and_never_share_a_chunk(token_count: Count, note: str) -> None:
    elements = [
        Element("Manual", "title", 1),
        Element("Pumps", "title", 1, ("Manual",)),
        *[Element(ENGLISH, "text", 1, ("Manual", "Pumps")) for _ in range(4)],
        *[Element(note, "text", 2 + i, ("Manual", "Pumps")) for i in range(4)],
    ]
    chunks = _chunker(token_count, chunk=64).chunk(elements)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert max(token_count(c.text) for c in chunks) <= 64
    assert all(c.section_path == ("Manual", "Pumps") for c in chunks[1:])
    scripts = [_has_han(c.text.split("\n", 1)[1]) for c in chunks[1:]]
    first_han = scripts.index(True)
    # English chunks, then Chinese ones: no chunk holds both.
    assert not any(scripts[:first_han]) and all(scripts[first_han:])
    assert all(c.text.count("pump") == 0 for c in chunks[1 + first_han :])
    assert chunks[1 + first_han].page == 2
    assert chunks[-1].page_end == 5


def test_pure_language_sections_chunk_as_one_run(token_count: Count) -> None:
    english = [Element(ENGLISH, "text", 1), Element("See the 知识库 entry.", "text", 1)]
    chinese = [Element(SIMPLIFIED, "text", 1), Element(TRADITIONAL, "text", 2)]
    for run in (english, chinese):
        assert script_groups(run, token_count, 16) == [run]
