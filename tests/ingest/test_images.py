"""Images are OCR'd in Chinese and English: upright or not, one page per TIFF frame, and
hostile sizes refused before decoding. Fixtures are drawn by the test (PIL with the CJK font
the install script brings) and taken from ``../shared``."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from core.errors import UnprocessableDocument
from ingest.formats import detect_type
from tests.ingest.helpers import parse_bytes

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
LINES_ZH = ["报销制度第三条", "差旅住宿标准为每晚五百元", "出差前须提交申请"]
LINES_EN = ["Travel policy, section three", "Hotels up to five hundred yuan a night"]


def page(lines: list[str], size: int = 44) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    image = Image.new("RGB", (1400, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((60, 60 + row * 90), line, fill="black", font=font)
    return image


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def ocr_text(data: bytes, name: str) -> tuple[str, dict[str, object], set[int | None]]:
    parsed = parse_bytes(data, name)
    text = "".join(element.text for element in parsed.elements).replace(" ", "")
    return text, parsed.metadata, {element.page for element in parsed.elements}


@pytest.mark.parametrize(
    ("fmt", "name", "options"),
    [
        ("PNG", "报销.png", {}),
        ("JPEG", "报销.jpg", {"quality": 92}),
        ("BMP", "scan.bmp", {}),
        ("WEBP", "scan.webp", {"lossless": True}),
    ],
)
def test_chinese_and_english_text_is_read_from_each_image_format(
    fmt: str, name: str, options: dict[str, object]
) -> None:
    text, facts, pages = ocr_text(encoded(page(LINES_ZH + LINES_EN), fmt, **options), name)
    assert "差旅住宿标准为每晚五百元" in text
    assert "Hotelsuptofivehundred" in text
    assert facts["image_pages"] == 1
    assert pages == {1}


def test_a_page_scanned_on_its_side_is_turned_upright() -> None:
    sideways = page(LINES_EN * 3 + LINES_ZH, size=40).rotate(90, expand=True)
    text, facts, _ = ocr_text(encoded(sideways, "PNG"), "sideways.png")
    assert facts["rotated_pages"] == 1
    assert "Travelpolicy,sectionthree" in text


def test_each_tiff_frame_is_a_page() -> None:
    first, second = page(LINES_ZH), page(LINES_EN)
    data = encoded(first, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")
    parsed = parse_bytes(data, "合同扫描件.tiff")
    by_page: dict[int | None, str] = {}
    for element in parsed.elements:
        by_page[element.page] = by_page.get(element.page, "") + element.text.replace(" ", "")
    assert "差旅住宿标准为每晚五百元" in by_page[1]
    assert "Hotelsuptofivehundred" in by_page[2]


def test_a_real_multi_page_scan(docs: Path) -> None:
    path = docs / "unstructured-example-docs" / "img" / "layout-parser-paper-combined.tiff"
    text, facts, pages = ocr_text(path.read_bytes(), path.name)
    assert "LayoutParser" in text
    assert facts["image_pages"] == 2 and pages == {1, 2}


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_hostile_images_fail_with_a_reason() -> None:
    with pytest.raises(UnprocessableDocument, match="too large to read"):
        parse_bytes(_png_declaring(200_000, 200_000), "bomb.png")
    with pytest.raises(UnprocessableDocument, match=r"damaged image|not a readable image"):
        parse_bytes(encoded(page(["x"]), "PNG")[:200], "cut.png")
    blank = encoded(Image.new("RGB", (800, 600), "white"), "PNG")
    with pytest.raises(UnprocessableDocument, match="no text found in the image"):
        parse_bytes(blank, "blank.png")


def test_image_bytes_are_known_by_content_not_only_by_name() -> None:
    png = encoded(page(["x"]), "PNG")
    assert detect_type(png, "upload") == "png"
    with pytest.raises(UnprocessableDocument, match="not a text file"):
        detect_type(png, "notes.txt")
    # "BM" starts a BMP, and also this text: still text.
    assert detect_type("BMW quarterly report 宝马季度报告".encode(), "report.txt") == "txt"
    with pytest.raises(UnprocessableDocument, match="unsupported type"):
        detect_type(b"BM" + b"\x00" * 60, "upload")


LINES_TRADITIONAL = ["員工請假規定第三條", "醫療費用報銷期限為三十天", "會議室預約請至總務處登記"]


@pytest.mark.parametrize(
    ("lines", "wanted", "not_wanted"),
    [
        (LINES_TRADITIONAL, ["醫療費用報銷期限", "會議室預約"], ["医疗费用", "会议室"]),
        (LINES_ZH, ["差旅住宿标准为每晚五百元"], ["差旅住宿標準"]),
        (
            ["請使用VPN連線至公司網路", "The IT helpdesk answers in English"],
            ["連線至公司網路", "helpdeskanswers"],
            ["连线"],
        ),
        # chi_sim read this page as Latin letters ("AAS ARTES /\\ERIC"), no Chinese at all.
        (
            ["合約金額為新臺幣八十萬元，", "付款方式為銀行轉帳，違約責", "任由雙方協商確定。"],
            ["合約金額為新臺幣八十萬元", "付款方式為銀行轉帳"],
            ["合约", "ARTES"],
        ),
        (["INVOICE NO. 2024-117 ACME", "TRADING LTD. NET 30"], ["INVOICENO.2024-117ACME"], ["發"]),
    ],
    ids=[
        "traditional",
        "simplified",
        "traditional-with-english",
        "traditional-read-as-latin",
        "english-capitals",
    ],
)
def test_a_scan_is_read_in_the_script_it_is_written_in(
    lines: list[str], wanted: list[str], not_wanted: list[str]
) -> None:
    # chi_sim alone read a Traditional scan as Simplified text with wrong characters.
    text, _, _ = ocr_text(encoded(page(lines), "PNG"), "scan.png")
    for phrase in wanted:
        assert phrase in text
    for phrase in not_wanted:
        assert phrase not in text


def test_a_missing_language_model_is_left_out_not_fatal() -> None:
    from ingest.ocr import SpatialTesseractAgent

    agent = SpatialTesseractAgent("eng+chi_sim+xyz_missing")
    assert agent.language == "eng+chi_sim"
    lines = agent.get_layout_elements_from_image(page(LINES_ZH)).texts
    assert "差旅住宿标准为每晚五百元" in "".join(lines).replace(" ", "")
