"""Scanned pages and photos (PNG, JPEG, multi-page TIFF, BMP, WebP, HEIC) → a PDF of image-only
pages, which :mod:`ingest.pdf` then OCRs like a scanned PDF: the same Chinese-aware tesseract
agent, the same pixel budget, one page per image frame.

Before that, each frame is turned upright: first by its EXIF orientation (phones store photos
sideways and say so), then by tesseract's orientation and script detection (OSD), which finds
a page scanned upside down or on its side; OSD needs some text to decide and is skipped when it
is unsure. Frames are decoded only after their declared size is checked: a 20-byte PNG can
declare a 100,000 × 100,000 image.
"""

from __future__ import annotations

import io
import logging
import re
import time

from core.errors import UnprocessableDocument

logger = logging.getLogger(__name__)

IMAGE_FORMATS = frozenset({"png", "jpeg", "tiff", "bmp", "webp", "heic"})
# OSD's confidence under which its rotation is not trusted (tesseract's scale; ~2 is its own
# advice for "reliable").
MIN_OSD_CONFIDENCE = 2.0
# A frame may declare this many times the OCR pixel budget; it is then scaled down to the
# budget. Past it, decoding alone would cost too much: refused unread.
MAX_DECLARED_FACTOR = 16
_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_CONFIDENCE = re.compile(r"Orientation confidence:\s*([\d.]+)")


def images_to_pdf(
    data: bytes,
    name: str,
    *,
    dpi: int,
    max_pixels: int,
    max_pages: int,
    deadline: float,
) -> tuple[bytes, dict[str, object]]:
    """The image file's frames as the pages of a PDF at ``dpi`` (so rendering it at ``dpi``
    gives back each frame's pixels), and facts: frames, rotations applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # PIL's own guard, past ~179 MP declared
        raise UnprocessableDocument(
            f"{name} declares an image too large to read (scan it at a lower resolution)"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnprocessableDocument(f"{name} is not a readable image: {_plain(exc)}") from exc
    frames = getattr(image, "n_frames", 1)
    if frames > max_pages:
        raise UnprocessableDocument(f"the image has {frames} pages (limit {max_pages})")
    pages = []
    rotations: list[int] = []
    try:
        for index in range(frames):
            if time.monotonic() > deadline:
                raise UnprocessableDocument(
                    f"parsing ran out of time after {index} of {frames} image pages"
                )
            image.seek(index)
            width, height = image.size
            if width * height > max_pixels * MAX_DECLARED_FACTOR:
                raise UnprocessableDocument(
                    f"page {index + 1} of the image is {width} × {height} pixels: too large to "
                    "read (scan it at a lower resolution)"
                )
            frame = ImageOps.exif_transpose(image.copy())
            frame = frame.convert("L" if frame.mode in ("1", "L", "LA", "I", "I;16") else "RGB")
            if frame.width * frame.height > max_pixels:
                scale = (max_pixels / (frame.width * frame.height)) ** 0.5
                frame = frame.resize(
                    (max(1, int(frame.width * scale)), max(1, int(frame.height * scale)))
                )
            angle = _upright_angle(frame)
            if angle:
                # OSD's "Rotate: 90" is how far to turn clockwise; PIL turns anticlockwise.
                frame = frame.rotate(-angle, expand=True)
            rotations.append(angle)
            pages.append(frame)
    except UnprocessableDocument:
        raise
    except (OSError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise UnprocessableDocument(f"{name} is a damaged image: {_plain(exc)}") from exc
    finally:
        image.close()
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=float(dpi), save_all=True, append_images=pages[1:])
    return out.getvalue(), {"image_pages": frames, "rotated_pages": sum(1 for a in rotations if a)}


def _register_heif() -> None:
    """HEIC/HEIF photos (an iPhone's default) through pillow-heif's decoder (libheif, libde265 in
    its wheel); it applies the photo's own rotation and mirror boxes as it decodes."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _upright_angle(frame: object) -> int:
    """Degrees clockwise that tesseract's OSD says the frame needs, or 0 when it cannot tell
    (too little text, a photo without words)."""
    import unstructured_pytesseract as tesseract

    try:
        report = tesseract.image_to_osd(frame, config="--psm 0 -c min_characters_to_try=20")
    except tesseract.TesseractNotFoundError:
        raise
    except Exception:  # "Too few characters", an image OSD cannot read: leave it as it is
        return 0
    rotate, confidence = _ROTATE.search(report), _CONFIDENCE.search(report)
    if not rotate or not confidence or float(confidence.group(1)) < MIN_OSD_CONFIDENCE:
        return 0
    return int(rotate.group(1)) % 360


def _plain(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
