"""HEIC/HEIF photos (an iPhone's default) are recognised by their content and OCR'd like other
images, in Chinese and English."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pillow_heif import register_heif_opener

from core.errors import UnprocessableDocument
from ingest.formats import detect_type
from tests.ingest.helpers import parse_bytes
from tests.ingest.test_images import LINES_EN, LINES_ZH, page


def _heic(lines: list[str]) -> bytes:
    register_heif_opener()
    out = io.BytesIO()
    page(lines).save(out, "HEIF", quality=90)
    return out.getvalue()


def test_a_heic_photo_is_read_in_chinese_and_english() -> None:
    data = _heic(LINES_ZH + LINES_EN)
    assert detect_type(data, "扫描.heic") == "heic"
    assert detect_type(data, "IMG_0001") == "heic"
    parsed = parse_bytes(data, "扫描.HEIC")
    text = "".join(e.text for e in parsed.elements).replace(" ", "")
    assert "差旅住宿标准为每晚五百元" in text
    assert "Hotelsuptofivehundred" in text
    assert parsed.metadata["image_pages"] == 1


def test_a_damaged_heic_is_refused_with_a_reason() -> None:
    data = _heic(["Damaged 损坏"])
    with pytest.raises(UnprocessableDocument, match=r"not a readable image|damaged image"):
        parse_bytes(data[: len(data) // 3], "photo.heic")


def test_a_real_heic_photo_from_a_phone(docs: Path) -> None:
    data = (docs / "unstructured-example-docs/img/DA-1p.heic").read_bytes()
    parsed = parse_bytes(data, "DA-1p.heic")
    assert parsed.metadata["format"] == "heic"
    assert "CREATURES" in " ".join(e.text for e in parsed.elements)
