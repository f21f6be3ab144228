"""Queue and task names: constants, so producers and consumers cannot drift apart."""

PARSE_QUEUE = "zhiku.parse"  # CPU: parsing, OCR, chunking
EMBED_QUEUE = "zhiku.embed"  # GPU where there is one: embedding and upserts
MAINTENANCE_QUEUE = "zhiku.maintenance"

PARSE_TASK = "zhiku.ingest.parse"
EMBED_TASK = "zhiku.ingest.embed"
