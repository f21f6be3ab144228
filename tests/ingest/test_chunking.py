"""The chunker: token limits, overlap, Chinese sentences, tables, section paths, positions."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import ChunkingSettings
from ingest.chunking import Chunker
from ingest.sentences import split_sentences
from ingest.tables import rows_to_html
from ingest.types import Element
from tests.ingest.helpers import Ingest

Count = Callable[[str], int]
ENGLISH = " ".join(
    f"Sentence number {i} explains how the pump station keeps water pressure stable."
    for i in range(40)
)
CHINESE = "".join(
    f"第{i}条规定要求每个部门在月底之前提交报告；逾期未交的将被记录。" for i in range(40)
)


def _small(count: Count, chunk: int = 64, overlap: int = 16, **kwargs: bool) -> Chunker:
    return Chunker(ChunkingSettings(chunk_tokens=chunk, overlap_tokens=overlap), count, **kwargs)


def test_token_counter_counts_what_the_model_sees(token_count: Count) -> None:
    assert token_count("") == 0  # [CLS] and [SEP] are the embedder's, outside the budget
    assert token_count("hello world") == 2
    assert token_count("知识库") == 3  # one word piece per Chinese character


def test_sentence_splitter_is_lossless_for_chinese_and_english() -> None:
    text = "第一句。第二句！“第三句？”第四句；Fifth one. Pi is 3.14 here!\nNext line"
    pieces = split_sentences(text)
    assert "".join(pieces) == text
    assert pieces[:5] == ["第一句。", "第二句！", "“第三句？”", "第四句；", "Fifth one. "]
    assert "Pi is 3.14 here!\n" in pieces


def test_chunks_never_exceed_the_limit_and_positions_are_contiguous(token_count: Count) -> None:
    elements = [
        Element("Pumps", "title", 1),
        Element(ENGLISH, "text", 1, ("Pumps",)),
        Element("规章", "title", 2),
        Element(CHINESE, "text", 2, ("规章",)),
        # No punctuation and no spaces: split by characters.
        Element("知识库检索" * 100, "text", 3, ("规章",)),
    ]
    chunks = _small(token_count).chunk(elements)
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert max(token_count(chunk.text) for chunk in chunks) <= 64
    assert {chunk.page for chunk in chunks} == {1, 2, 3}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from("abc 知识库。.，!\n？x"), min_size=1, max_size=400),
        min_size=1,
        max_size=6,
    )
)
def test_limit_holds_for_any_text(token_count: Count, texts: list[str]) -> None:
    elements = [Element(text, "text", 1, ("Section",)) for text in texts]
    for chunk in _small(token_count, chunk=40, overlap=8).chunk(elements):
        assert token_count(chunk.text) <= 40


def test_consecutive_chunks_of_a_section_overlap(token_count: Count) -> None:
    chunks = _small(token_count, section_header=False).chunk([Element(ENGLISH, "text", 1)])
    assert len(chunks) > 3
    for first, second in itertools.pairwise(chunks):
        opening = split_sentences(second.text)[0].strip()
        assert opening in first.text  # the next chunk starts with the previous one's end
        shared = second.text[: second.text.index(opening) + len(opening)]
        assert token_count(shared) <= 16


def test_chinese_chunks_end_at_sentence_boundaries(token_count: Count) -> None:
    chunks = _small(token_count, section_header=False).chunk([Element(CHINESE, "text", 1)])
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text[-1] in "；。", chunk.text
        assert token_count(chunk.text) <= 64
    assert CHINESE.startswith(chunks[0].text)


def test_table_that_fits_is_one_chunk(token_count: Count) -> None:
    rows = [["Team", "City"], ["Blues", "STL"], ["Flyers", "PHI"]]
    table = Element(
        "Team | City\nBlues | STL\nFlyers | PHI", "table", 4, ("Cups",), rows_to_html(rows)
    )
    chunks = _small(token_count).chunk([Element("Cups", "title", 4), table])
    assert [chunk.kind for chunk in chunks] == ["table"]
    assert chunks[0].text == "Cups\nTeam | City\nBlues | STL\nFlyers | PHI"
    assert chunks[0].html == table.html
    assert chunks[0].section_path == ("Cups",)


def test_big_table_is_split_by_rows_repeating_the_header(token_count: Count) -> None:
    rows = [["Part number", "Description", "Stock"]] + [
        [f"P-{i:04d}", f"Replacement seal kit model {i}", str(i * 7)] for i in range(60)
    ]
    text = "\n".join(" | ".join(row) for row in rows)
    chunks = _small(token_count).chunk([Element(text, "table", 1, ("Parts",), rows_to_html(rows))])
    assert len(chunks) > 3
    body_rows = []
    for chunk in chunks:
        assert chunk.kind == "table"
        assert token_count(chunk.text) <= 64
        lines = chunk.text.split("\n")
        assert lines[0] == "Parts"
        assert lines[1] == "Part number | Description | Stock"
        assert chunk.html is not None and chunk.html.count("<tr>") == len(lines) - 1
        body_rows.extend(lines[2:])
    assert body_rows == [" | ".join(row) for row in rows[1:]]  # every row once, in order


def test_section_paths_and_header_lines(token_count: Count) -> None:
    long_text = ENGLISH[:1500]
    elements = [
        Element("Manual", "title", 1),
        Element("Install", "title", 1, ("Manual",)),
        Element(long_text, "text", 1, ("Manual", "Install")),
        Element("Running headers are skipped", "header", 1, ("Manual", "Install")),
    ]
    chunks = _small(token_count, chunk=128, overlap=16).chunk(elements)
    # "Manual" alone is merged into the next section instead of becoming a bare heading.
    assert chunks[0].text.startswith("Manual\n\nInstall\n\nSentence number 0")
    assert chunks[0].section_path == ("Manual",)
    for chunk in chunks[1:]:
        assert chunk.section_path == ("Manual", "Install")
        assert chunk.text.startswith("Manual > Install\n")
    assert not any("Running headers" in chunk.text for chunk in chunks)
    plain = _small(token_count, chunk=128, overlap=16, section_header=False).chunk(elements)
    assert not any(chunk.text.startswith("Manual > Install") for chunk in plain)


def test_sections_are_not_mixed_when_large(token_count: Count) -> None:
    elements = [
        Element("Alpha", "title", 1),
        Element(ENGLISH[:600], "text", 1, ("Alpha",)),
        Element("Beta", "title", 2),
        Element(ENGLISH[600:1200], "text", 2, ("Beta",)),
    ]
    chunks = _small(token_count, chunk=256, overlap=32).chunk(elements)
    assert [chunk.section_path for chunk in chunks] == [("Alpha",), ("Beta",)]
    assert chunks[1].text.startswith("Beta\n")


def test_refuses_impossible_settings(token_count: Count) -> None:
    with pytest.raises(ValueError):
        Chunker(ChunkingSettings(chunk_tokens=16, overlap_tokens=0), token_count)
    with pytest.raises(ValueError):
        Chunker(ChunkingSettings(chunk_tokens=64, overlap_tokens=40), token_count)


@pytest.mark.slow
def test_real_documents_respect_the_default_limit(
    docs: Path, ingest: Ingest, token_count: Count
) -> None:
    for relative in (
        "docling-test-data/pdf/sources/2305.03393v1-pg9.pdf",
        "docling-test-data/csv/sources/csv-comma.csv",  # a 100-row table
        "unstructured-example-docs/norwich-city.txt",
        "docling-test-data/md/sources/wiki.md",
    ):
        _, chunks = ingest(docs / relative)
        assert max(token_count(chunk.text) for chunk in chunks) <= 256, relative
        assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize(
    ("title", "sentence"),
    [
        ("Vitamin D and bone density", "Vitamin D intake was measured in {i} adults. "),
        ("维生素D与骨密度", "研究测量了{i}名成年人的维生素D摄入量。"),
    ],
)
def test_a_heading_is_never_a_chunk_of_its_own(
    token_count: Count, title: str, sentence: str
) -> None:
    """A paragraph that fits a chunk only without its heading (a SciFact abstract under its
    title) must not leave the heading behind as a chunk: the heading rides on the section line."""
    chunker = _small(token_count, chunk=128, overlap=16)
    budget = chunker._body_budget(())
    paragraph = ""
    for i in range(1000):
        longer = paragraph + sentence.format(i=i)
        if token_count(longer) - token_count("") > budget - 2:
            break
        paragraph = longer
    elements = [Element(title, "title", 1), Element(paragraph.strip(), "text", 1, (title,))]
    chunks = chunker.chunk(elements)
    assert all(chunk.text.strip() != title for chunk in chunks)
    assert all(chunk.text.startswith(title) for chunk in chunks)
    assert "".join(c.text for c in chunks).count(paragraph.split("。")[0].split(". ")[0]) >= 1
