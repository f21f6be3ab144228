"""Queue and task names: constants, so producers and consumers cannot drift apart."""

PARSE_QUEUE = "zhiku.parse"  # CPU: parsing, OCR, chunking (files over 64 KiB, or of unknown size)
# Small files (``workers.parse_stage.is_small_file``) have a queue of their own, so that a
# memo is never queued behind a 200-page PDF whose parse takes minutes: every parse worker
# serves it too, and a worker for it alone keeps a process free for it (``zhiku worker
# --queues parse-small``; compose.yaml's worker-parse-small).
PARSE_SMALL_QUEUE = "zhiku.parse-small"
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
