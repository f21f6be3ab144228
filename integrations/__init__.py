"""Client-side integrations: Zhiku's permission-filtered search as a retriever for LlamaIndex
(``integrations.llamaindex``) and LangChain (``integrations.langchain``).

A client library speaking HTTP to a running Zhiku with an API key: it imports nothing of the
server (import-linter keeps it so) and needs only the ``integrations`` extra
(``pip install "zhiku[integrations]"``).
"""

from integrations.client import (
    SearchHit,
    ZhikuAccessDenied,
    ZhikuAuthenticationError,
    ZhikuClientError,
    ZhikuRateLimited,
    ZhikuSearchClient,
)

__all__ = [
    "SearchHit",
    "ZhikuAccessDenied",
    "ZhikuAuthenticationError",
    "ZhikuClientError",
    "ZhikuRateLimited",
    "ZhikuSearchClient",
]
