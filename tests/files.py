"""Small files that tests generate themselves (real formats, built byte by byte)."""

from __future__ import annotations

import io
import zipfile


def text_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with a text layer (Helvetica), written by hand."""
    content = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join(f"({line.replace('(', '[').replace(')', ']')}) '" for line in lines)
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
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
