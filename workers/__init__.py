"""Background ingestion: the stages, the Celery app, the in-process runner and the sweeper."""
