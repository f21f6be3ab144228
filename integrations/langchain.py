"""Zhiku's permission-filtered search as a LangChain retriever.

    from integrations.langchain import ZhikuRetriever
    retriever = ZhikuRetriever(base_url="http://127.0.0.1:8000", api_key="zk_…", k=5)
    docs = retriever.invoke("How many people work in Lisbon?")   # or: await retriever.ainvoke(…)

Each hit is a ``Document`` whose ``id`` is the chunk's, with its score, the document id,
title, filename, page and chunk id in ``metadata``. What the key's user may not read never
leaves the server.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, PrivateAttr, SecretStr

from integrations.client import DEFAULT_TIMEOUT_S, SearchHit, ZhikuSearchClient


class ZhikuRetriever(BaseRetriever):
    base_url: str
    api_key: SecretStr
    k: int = Field(default=5, ge=1, le=100)
    # Zhiku's search filters (document_ids, tags, file_types, created_after/before): they
    # narrow, never widen, what is searched.
    filters: dict[str, Any] = Field(default_factory=dict)
    mode: str = "hybrid"
    timeout_s: float = DEFAULT_TIMEOUT_S
    _client: ZhikuSearchClient = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._client = ZhikuSearchClient(
            self.base_url, self.api_key.get_secret_value(), timeout_s=self.timeout_s
        )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self._client.search(query, limit=self.k, filters=self.filters, mode=self.mode)
        return [_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = await self._client.asearch(query, limit=self.k, filters=self.filters, mode=self.mode)
        return [_document(hit) for hit in hits]


def _document(hit: SearchHit) -> Document:
    return Document(
        id=hit.chunk_id, page_content=hit.text, metadata={**hit.metadata, "score": hit.score}
    )
