"""Tesseract OCR agent for ``unstructured``'s ``ocr_only`` strategy that works for Chinese.

Registered through the ``OCR_AGENT`` setting by :mod:`ingest.unstructured_runtime`; never
imported directly by our code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unstructured.partition.pdf_image.inference_utils import build_layout_elements_from_ocr_regions
from unstructured.partition.utils.ocr_models.tesseract_ocr import OCRAgentTesseract

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from unstructured_inference.inference.layoutelement import LayoutElements


class SpatialTesseractAgent(OCRAgentTesseract):
    """Groups OCR words into blocks by their position on the page.

    The stock agent groups them by matching each word against ``image_to_string``'s text split
    on whitespace (``group_by_ocr_text=True``), which fails for scripts written without spaces
    (Chinese) and runs tesseract twice per page. Grouping by position needs one run.
    """

    def get_layout_elements_from_image(self, image: PILImage.Image) -> LayoutElements:
        return build_layout_elements_from_ocr_regions(
            ocr_regions=self.get_layout_from_image(image), group_by_ocr_text=False
        )
