"""``POST /v1/search`` over HTTP, sync and async, with timeouts and errors that say what to do.

Both retrievers use this one client, so they send the same request and read hits the same way.
What a key may read is decided by the server: a hit is never filtered or widened here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0


class ZhikuClientError(RuntimeError):
    """Zhiku refused or failed the request; ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ZhikuAuthenticationError(ZhikuClientError):
    """401: the key is missing, wrong or revoked."""


class ZhikuAccessDenied(ZhikuClientError):
    """403: the key may not search (e.g. an upload-only key)."""


class ZhikuRateLimited(ZhikuClientError):
    """429: too many requests at once; retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SearchHit:
    """One passage the key's user may read, as /v1/search returns it."""

    chunk_id: str
    document_id: str
    text: str
    score: float
    title: str
    filename: str
    page: int | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, hit: Mapping[str, Any]) -> SearchHit:
        metadata = {
            "document_id": hit["document_id"],
            "chunk_id": hit["chunk_id"],
            "version": hit.get("version"),
            "title": hit.get("title") or "",
            "filename": hit.get("filename") or "",
            "page": hit.get("page"),
            "page_end": hit.get("page_end"),
            "section": list(hit.get("section") or []),
            "mime_type": hit.get("mime_type"),
            "tags": list(hit.get("tags") or []),
            "source": "zhiku",
        }
        return cls(
            chunk_id=hit["chunk_id"],
            document_id=hit["document_id"],
            text=hit.get("text") or "",
            score=float(hit.get("score") or 0.0),
            title=metadata["title"],
            filename=metadata["filename"],
            page=hit.get("page"),
            metadata=metadata,
        )


class ZhikuSearchClient:
    """``base_url``: the server (``https://zhiku.example``); ``api_key``: a Zhiku key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not api_key:
            raise ValueError("a Zhiku API key is required")
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))

    def body(
        self, query: str, limit: int, filters: Mapping[str, Any] | None, mode: str
    ) -> dict[str, Any]:
        return {"query": query, "limit": limit, "filters": dict(filters or {}), "mode": mode}

    def search(
        self,
        query: str,
        *,
        limit: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: str = "hybrid",
    ) -> list[SearchHit]:
        with httpx.Client(timeout=self._timeout) as http:
            try:
                response = http.post(
                    f"{self.base_url}/v1/search",
                    json=self.body(query, limit, filters, mode),
                    headers=self._headers,
                )
            except httpx.HTTPError as exc:
                raise _unreachable(self.base_url, exc) from exc
        return _hits(response)

    async def asearch(
        self,
        query: str,
        *,
        limit: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: str = "hybrid",
    ) -> list[SearchHit]:
        async with httpx.AsyncClient(timeout=self._timeout) as http:
            try:
                response = await http.post(
                    f"{self.base_url}/v1/search",
                    json=self.body(query, limit, filters, mode),
                    headers=self._headers,
                )
            except httpx.HTTPError as exc:
                raise _unreachable(self.base_url, exc) from exc
        return _hits(response)


def _unreachable(base_url: str, exc: httpx.HTTPError) -> ZhikuClientError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
    return ZhikuClientError(f"Zhiku at {base_url} did not answer ({kind})")


def _hits(response: httpx.Response) -> list[SearchHit]:
    status = response.status_code
    if status == 200:
        return [SearchHit.from_json(hit) for hit in response.json()["results"]]
    detail = _detail(response)
    if status == 401:
        raise ZhikuAuthenticationError(f"Zhiku refused the API key: {detail}", 401)
    if status == 403:
        raise ZhikuAccessDenied(f"this Zhiku key may not search: {detail}", 403)
    if status == 429:
        retry = response.headers.get("Retry-After")
        seconds = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
        raise ZhikuRateLimited(
            f"Zhiku is busy, retry after {retry or 'a while'} s: {detail}", seconds
        )
    raise ZhikuClientError(f"Zhiku search failed ({status}): {detail}", status)


def _detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))[:300]
        return str(payload.get("detail", ""))[:300]
    return str(payload)[:300]
