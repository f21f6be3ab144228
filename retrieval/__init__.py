"""Principals → permission-filtered hybrid search → rerank → context (issue 3)."""
