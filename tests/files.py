"""Small files that tests generate themselves (real formats, built byte by byte)."""

from __future__ import annotations

import io
import zipfile


def text_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with a text layer (Helvetica), written by hand."""
    content = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join(f"({_pdf_string(line)}) '" for line in lines)
        + " ET"
    )
    return _pdf([content])


# One run of text on a PDF page: (bold, size in points, x, baseline y, text).
TextRun = tuple[bool, float, float, float, str]


def styled_pdf(
    pages: list[list[TextRun]], *, unit_font: bool = True, turned: bool = False
) -> bytes:
    """A PDF with runs of Helvetica / Helvetica-Bold placed where the test says (pages of
    612 × 792 points). With ``unit_font`` each run is set as a 1-point font scaled up by the
    text matrix, as many PDF producers do, so the size is only in the matrix.

    ``turned`` makes landscape pages the way some printers do: the runs' coordinates are on a
    792 × 612 landscape sheet, drawn a quarter turn anticlockwise on the portrait page, which
    carries ``/Rotate 90`` so that viewers show it upright."""
    contents = []
    for runs in pages:
        parts = []
        for bold, size, x, y, text in runs:
            font = "/F2" if bold else "/F1"
            shown = f"({_pdf_string(text)}) Tj ET"
            if turned:
                parts.append(f"BT {font} 1 Tf 0 {size} {-size} 0 {612 - y} {x} Tm {shown}")
            elif unit_font:
                parts.append(f"BT {font} 1 Tf {size} 0 0 {size} {x} {y} Tm {shown}")
            else:
                parts.append(f"BT {font} {size} Tf {x} {y} Td {shown}")
        contents.append("\n".join(parts))
    return _pdf(contents, rotate=90 if turned else 0)


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _pdf(contents: list[str], rotate: int = 0) -> bytes:
    """A PDF with one page per content stream and two fonts: /F1 Helvetica, /F2 Helvetica-Bold."""
    count = len(contents)
    page_numbers = [3 + 2 * i for i in range(count)]
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{n} 0 R' for n in page_numbers)}] /Count {count} >>",
    ]
    fonts_at = 3 + 2 * count
    for index, content in enumerate(contents):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate {rotate} "
            f"/Resources << /Font << /F1 {fonts_at} 0 R /F2 {fonts_at + 1} 0 R >> >> "
            f"/Contents {page_numbers[index] + 1} 0 R >>"
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n{content}\nendstream")
    objects.append(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    objects.append(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted_pdf(lines: list[str], password: str = "secret") -> bytes:
    import pikepdf

    source = pikepdf.open(io.BytesIO(text_pdf(lines)))
    out = io.BytesIO()
    source.save(out, encryption=pikepdf.Encryption(user=password, owner=password, R=6))
    return out.getvalue()


def zip_bomb_docx(unpacked_mb: int = 120) -> bytes:
    """A .docx-shaped zip whose one member inflates to ``unpacked_mb`` MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w") as member:
            block = b"\0" * (1 << 20)
            for _ in range(unpacked_mb):
                member.write(block)
    return out.getvalue()


def long_text(paragraphs: int, seed: int = 0) -> str:
    """Distinct English paragraphs, so every chunk is different."""
    import random

    rng = random.Random(seed)
    words = [
        "archive",
        "ledger",
        "policy",
        "access",
        "tenant",
        "vector",
        "payload",
        "invoice",
        "contract",
        "audit",
        "revenue",
        "supplier",
        "warranty",
        "clause",
        "schedule",
        "renewal",
        "budget",
        "forecast",
        "storage",
        "retention",
        "review",
    ]
    out = []
    for i in range(paragraphs):
        body = " ".join(rng.choice(words) for _ in range(60))
        out.append(f"Paragraph {i} of the generated handbook. {body.capitalize()}.")
    return "\n\n".join(out)


def saved_by_libreoffice(data: bytes, suffix: str, export_filter: str) -> bytes:
    """``data`` (a file ending in ``suffix``, e.g. ".docx") saved again by LibreOffice
    headless with ``export_filter`` ("pdf", "doc:MS Word 97"…), on a profile of its own."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        source = root / f"source{suffix}"
        source.write_bytes(data)
        out = root / "out"
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation={(root / 'profile').as_uri()}",
                "--headless",
                "--convert-to",
                export_filter,
                "--outdir",
                str(out),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (produced,) = out.iterdir()
        return produced.read_bytes()


class _AnsiName(zipfile.ZipInfo):
    """A member named in a legacy code page with no UTF-8 flag, as Chinese Windows writes it
    (``zipfile`` itself would write UTF-8 and set the flag)."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("cp437"), self.flag_bits


def legacy_named_zip(members: dict[str, bytes], encoding: str = "gbk") -> bytes:
    """A zip whose member names are in ``encoding`` (GBK, Big5) without the UTF-8 flag."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = _AnsiName(name.encode(encoding).decode("cp437"))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()
