"""Zhiku's permission-filtered search as a LlamaIndex retriever.

    from integrations.llamaindex import ZhikuRetriever
    retriever = ZhikuRetriever(base_url="http://127.0.0.1:8000", api_key="zk_…", top_k=5)
    nodes = retriever.retrieve("里斯本办公室有多少员工？")      # or: await retriever.aretrieve(…)
    engine = RetrieverQueryEngine.from_args(retriever, llm=…)   # a drop-in for any query engine

Each hit is a ``NodeWithScore``: a ``TextNode`` whose id is the chunk's, with the document id,
title, filename, page and chunk id in its metadata. What the key's user may not read never
leaves the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from integrations.client import DEFAULT_TIMEOUT_S, SearchHit, ZhikuSearchClient

# Shown to the LLM beside the text: where the passage comes from, not the internal ids.
_LLM_METADATA = ("title", "filename", "page")


class ZhikuRetriever(BaseRetriever):
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        top_k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: str = "hybrid",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        """``filters``: Zhiku's search filters (``document_ids``, ``tags``, ``file_types``,
        ``created_after``, ``created_before``); they narrow, never widen, what is searched."""
        super().__init__(**kwargs)
        self.client = ZhikuSearchClient(base_url, api_key, timeout_s=timeout_s)
        self.top_k = top_k
        self.filters = dict(filters or {})
        self.mode = mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.client.search(
            query_bundle.query_str, limit=self.top_k, filters=self.filters, mode=self.mode
        )
        return [_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self.client.asearch(
            query_bundle.query_str, limit=self.top_k, filters=self.filters, mode=self.mode
        )
        return [_node(hit) for hit in hits]


def _node(hit: SearchHit) -> NodeWithScore:
    excluded = [key for key in hit.metadata if key not in _LLM_METADATA]
    node = TextNode(
        id_=hit.chunk_id,
        text=hit.text,
        metadata=hit.metadata,
        excluded_llm_metadata_keys=excluded,
        excluded_embed_metadata_keys=list(hit.metadata),
    )
    return NodeWithScore(node=node, score=hit.score)
