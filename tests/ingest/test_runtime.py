"""unstructured runs offline and privately: the verified spaCy model, no downloads, no
telemetry, correct classification, and safe use from threads and forked workers."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest import unstructured_runtime
from ingest.parsing import parse_document, warm_up
from ingest.types import ParsedDocument

REPORT = (
    "Quarterly Results\n\n"
    "The company reported higher revenue this quarter and expects growth to continue.\n\n"
    "Outlook\n\n"
    "Management plans to open two new plants next year."
)


def test_unstructured_uses_our_model_and_never_downloads() -> None:
    warm_up()
    from unstructured.nlp import tokenize

    assert tokenize._get_nlp is unstructured_runtime.english_pipeline
    with pytest.raises(unstructured_runtime.SpacyModelError, match="tried to download"):
        tokenize._install_spacy_model()
    assert os.environ["DO_NOT_TRACK"] == "true"
    assert tokenize.pos_tag("The pump runs.")[2] == ("runs", "VBZ")


def _parse_with_unstructured(text: str, name: str) -> ParsedDocument:
    # .txt goes to ingest.plain_text by default; these tests are about unstructured's path.
    settings = ParsingSettings(plain_text="unstructured")
    return parse_document(text.encode(), name, settings, LimitsSettings())


def test_titles_and_narrative_text_are_told_apart() -> None:
    parsed = _parse_with_unstructured(REPORT, "report.txt")
    kinds = [(element.kind, element.text[:17]) for element in parsed.elements]
    assert kinds == [
        ("title", "Quarterly Results"),
        ("text", "The company repor"),
        ("title", "Outlook"),
        ("text", "Management plans "),
    ]
    assert parsed.elements[3].section_path == ("Outlook",)


def test_a_tampered_model_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(unstructured_runtime.spacy_model_path(), copy)
    unstructured_runtime.verify_spacy_model(copy)
    with (copy / "tagger" / "model").open("ab") as weights:
        weights.write(b"\0")
    with pytest.raises(unstructured_runtime.SpacyModelError, match="sha256"):
        unstructured_runtime.verify_spacy_model(copy)


def _parse_in_child(path: str) -> list[str]:
    parsed = parse_document(Path(path).read_bytes(), Path(path).name, *_settings())
    return [element.text for element in parsed.elements]


def _settings() -> tuple[object, object]:
    from core.settings import LimitsSettings
    from core.settings_parsing import ParsingSettings

    return ParsingSettings(), LimitsSettings()


@pytest.mark.slow
def test_threads_and_forked_workers_get_the_same_result(docs: Path) -> None:
    paths = [
        docs / "docling-test-data/docx/sources/word_sample.docx",
        docs / "docling-test-data/pdf/sources/code_and_formula.pdf",
        docs / "unstructured-example-docs/norwich-city.txt",
        docs / "docling-test-data/html/sources/example_03.html",
    ]
    sequential = [_parse_in_child(str(path)) for path in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(_parse_in_child, map(str, paths * 2)))
    assert threaded == sequential * 2
    # Celery's prefork pool: a child forked from a parent that has already parsed.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_parse_in_child, map(str, paths[:2])) == sequential[:2]


def test_chinese_paragraphs_are_not_taken_for_headings() -> None:
    text = (
        "项目简介\n\n本项目旨在为企业提供一个自托管的知识库平台，支持权限控制和基于文档的问答。\n\n"
        "部署方式\n\n系统可以在一台服务器上运行，也可以拆分为多个服务\n\n数据库使用 PostgreSQL。"
    )
    parsed = _parse_with_unstructured(text, "说明.txt")
    assert [element.kind for element in parsed.elements] == [
        "title",
        "text",
        "title",
        "text",
        "text",
    ]
    assert parsed.elements[4].section_path == ("部署方式",)
