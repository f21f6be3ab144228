"""Bytes → elements → chunks. Knows nothing of databases, queues or vector stores."""
