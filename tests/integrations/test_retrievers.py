"""The LlamaIndex and LangChain retrievers (integrations/) against a running server over real
HTTP: English and Chinese queries find their passages with the citation metadata, sync and
async, and a user without access never gets the private document, whatever they ask."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.schema import NodeWithScore

from integrations import ZhikuAuthenticationError, ZhikuClientError
from integrations.langchain import ZhikuRetriever as LangChainRetriever
from integrations.llamaindex import ZhikuRetriever as LlamaIndexRetriever
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.support import make_settings

PUBLIC = {
    "etna.txt": "Mount Etna\n\nMount Etna is a volcano on the east coast of Sicily. In 1886 its "
    "lava flows reached the town of Nicolosi.",
    "tea.txt": "龙井茶\n\n龙井茶产自杭州西湖一带，是中国著名的绿茶。"
    "每年清明节前采摘的明前茶最为珍贵。",
}
# Readable by ann (its uploader) alone; its words answer both probe queries below.
PRIVATE = (
    "merger.txt",
    "Project Kestrel\n\nProject Kestrel is the secret merger with Nicolosi Volcanic Tours, "
    "valued at 93 million euros. 红隼项目是与尼科洛西火山旅行社的秘密合并，估值九千三百万欧元。",
)
PROBES = [
    "When did lava reach Nicolosi?",
    "龙井茶产自哪里？",
    "Project Kestrel secret merger",
    "红隼项目合并估值",
]


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("integrations"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return seeded_world(server, PUBLIC, PRIVATE)


def llama(server: ThreadServer, key: str, **options: object) -> LlamaIndexRetriever:
    return LlamaIndexRetriever(base_url=server.url, api_key=key, **options)  # type: ignore[arg-type]


def langchain(server: ThreadServer, key: str, **options: object) -> LangChainRetriever:
    return LangChainRetriever(base_url=server.url, api_key=key, **options)  # type: ignore[arg-type]


def test_llamaindex_retriever_finds_english_and_chinese_passages(
    server: ThreadServer, world: World
) -> None:
    retriever = llama(server, world.keys["bob"], top_k=3)
    ids: dict[str, str] = world.doc_ids  # type: ignore[attr-defined]
    nodes = retriever.retrieve("When did lava reach Nicolosi?")
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    top = nodes[0]
    assert "1886" in top.node.get_content()
    assert top.score is not None and top.score > 0
    meta = top.node.metadata
    assert meta["document_id"] == ids["etna.txt"] and meta["filename"] == "etna.txt"
    assert meta["title"] and meta["chunk_id"] == top.node.node_id and "page" in meta
    # The LLM sees where a passage comes from, not internal ids.
    assert "document_id" in top.node.excluded_llm_metadata_keys

    chinese = asyncio.run(retriever.aretrieve("龙井茶产自哪里？"))
    assert chinese[0].node.metadata["document_id"] == ids["tea.txt"]
    assert "杭州" in chinese[0].node.get_content()


def test_langchain_retriever_finds_english_and_chinese_passages(
    server: ThreadServer, world: World
) -> None:
    retriever = langchain(server, world.keys["bob"], k=3)
    ids: dict[str, str] = world.doc_ids  # type: ignore[attr-defined]
    docs = retriever.invoke("龙井茶产自哪里？")
    assert docs and "杭州" in docs[0].page_content
    meta = docs[0].metadata
    assert meta["document_id"] == ids["tea.txt"] and meta["filename"] == "tea.txt"
    assert docs[0].id == meta["chunk_id"] and meta["score"] > 0 and "page" in meta
    english = asyncio.run(retriever.ainvoke("When did lava reach Nicolosi?"))
    assert english[0].metadata["document_id"] == ids["etna.txt"]
    # Filters narrow the search, as on /v1/search.
    narrowed = langchain(server, world.keys["bob"], filters={"document_ids": [ids["tea.txt"]]})
    assert {d.metadata["document_id"] for d in narrowed.invoke("Nicolosi lava")} <= {ids["tea.txt"]}


def test_a_user_without_access_never_gets_the_private_document(
    server: ThreadServer, world: World
) -> None:
    private = world.doc_ids[PRIVATE[0]]  # type: ignore[attr-defined]
    for who in ("bob", "carol", "zed"):
        li, lc = llama(server, world.keys[who], top_k=20), langchain(server, world.keys[who], k=20)
        for query in PROBES:
            found = {n.node.metadata["document_id"] for n in li.retrieve(query)}
            found |= {d.metadata["document_id"] for d in lc.invoke(query)}
            found |= {n.node.metadata["document_id"] for n in asyncio.run(li.aretrieve(query))}
            assert private not in found, (who, query)
    # Its uploader does find it, in both languages: the probes would have caught a leak.
    owner = langchain(server, world.keys["ann"], k=3)
    assert owner.invoke("Project Kestrel secret merger")[0].metadata["document_id"] == private
    assert owner.invoke("红隼项目合并估值")[0].metadata["document_id"] == private


def test_clear_errors_for_a_bad_key_and_an_unreachable_server(server: ThreadServer) -> None:
    with pytest.raises(ZhikuAuthenticationError, match="refused the API key"):
        llama(server, "zk_wrong_key").retrieve("Etna")
    with pytest.raises(ZhikuAuthenticationError):
        asyncio.run(langchain(server, "zk_wrong_key").ainvoke("Etna"))
    # Nothing listens on port 9 of loopback: a clear error naming the server, not a hang.
    gone = LangChainRetriever(base_url="http://127.0.0.1:9", api_key="zk_x", timeout_s=2)
    with pytest.raises(ZhikuClientError, match="did not answer"):
        gone.invoke("Etna")
