"""The file types Zhiku accepts: our format keys and the MIME type each is stored under.

Shared vocabulary: ``ingest.formats`` detects an upload's format key, and the search filters
(``retrieval.filters``) accept either a key or a MIME type.
"""

from __future__ import annotations

# Our format keys, each handled by one partitioner in ingest.parsing.
FORMAT_MIME_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "md": "text/markdown",
    "txt": "text/plain",
    "eml": "message/rfc822",
    "msg": "application/vnd.ms-outlook",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    # Converted to the formats above before parsing (ingest.office_convert).
    "doc": "application/msword",
    "wps": "application/wps-office.wps",
    "rtf": "application/rtf",
    "odt": "application/vnd.oasis.opendocument.text",
    "xls": "application/vnd.ms-excel",
    "et": "application/wps-office.et",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "ppt": "application/vnd.ms-powerpoint",
    "dps": "application/wps-office.dps",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "epub": "application/epub+zip",
    # OCR'd as image-only pages (ingest.images).
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "heic": "image/heic",  # HEIC/HEIF photos (iPhones' default), decoded by pillow-heif
}
