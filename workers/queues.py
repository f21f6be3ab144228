"""Queue and task names: constants, so producers and consumers cannot drift apart."""

PARSE_QUEUE = "zhiku.parse"  # CPU: parsing, OCR, chunking
EMBED_QUEUE = "zhiku.embed"  # GPU where there is one: embedding and upserts
MAINTENANCE_QUEUE = "zhiku.maintenance"

# One document (a retry, the sweeper's re-queue).
PARSE_TASK = "zhiku.ingest.parse"
EMBED_TASK = "zhiku.ingest.embed"
# Several documents in one message (an upload request, a parsed wave).
PARSE_MANY_TASK = "zhiku.ingest.parse_many"
EMBED_MANY_TASK = "zhiku.ingest.embed_many"
# The periodic clean-up (workers.maintenance), sent by Celery beat.
MAINTENANCE_TASK = "zhiku.maintenance.run"
