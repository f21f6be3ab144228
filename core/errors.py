"""Domain errors, without HTTP codes: ``api`` maps them to statuses, ``workers`` to retries."""

from __future__ import annotations


class ZhikuError(Exception):
    """Base of every error this code raises on purpose."""


class NotFound(ZhikuError):
    pass


class PermissionDenied(ZhikuError):
    pass


class Unauthenticated(ZhikuError):
    pass


class InvalidInput(ZhikuError):
    """The caller sent something we refuse (bad file, bad filter, over a limit)."""


class Conflict(ZhikuError):
    pass


class UnprocessableDocument(ZhikuError):
    """A document that can never be ingested as it is: retrying will not help."""


class UpstreamUnavailable(ZhikuError):
    """A dependency (broker, vector store, model server) is down or slow: worth retrying."""


class UnsupportedFormat(UnprocessableDocument):
    """A file type Zhiku does not parse."""


class TooManyRequests(ZhikuError):
    """The caller is over a concurrency or rate cap: try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int = 10) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
