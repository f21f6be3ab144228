"""Which model a process embeds queries with at start (``services.reindex.open_serving_model``):
an index written before generations recorded their model keeps the model of that era when the
default changes, on both backends; a named model, or an empty index, takes the configuration's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from core.settings import EmbeddingSettings
from index.models import PRE_GENERATIONS_MODEL
from index.qdrant_embedded import EmbeddedQdrantStore
from index.qdrant_server import QdrantServerStore
from services.reindex import open_serving_model
from tests.index.contract.common import DIM, point

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


class NamedEmbedder:
    """Stands in for a loaded model: only its identity matters here."""

    def __init__(self, model: str) -> None:
        self.name = model or "packaged-minilm"
        self.model_key = f"key-of-{self.name}"
        self.dim = DIM


class Sparse:
    version = "bm25-test"


def _open(store: Any, configured: EmbeddingSettings) -> str:
    built: list[str] = []

    def build(settings: EmbeddingSettings) -> NamedEmbedder:
        built.append(settings.model)
        return NamedEmbedder(settings.model)

    open_serving_model(store, configured, Sparse(), build)  # type: ignore[arg-type]
    return built[-1]


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "embedded":
        with EmbeddedQdrantStore(tmp_path / "chunks", optimize_after=None) as embedded:
            yield embedded
    else:
        yield QdrantServerStore(QdrantClient(":memory:"), "chunks")


def _write_without_a_generation(store: Any) -> None:
    store.ensure_collection(DIM)
    store.upsert([point("t1", "合同", i, text=f"第{i}段 clause {i}") for i in range(3)])
    assert store.generations().live_generation() is None


def test_an_index_from_before_generations_keeps_the_default_of_its_era(store: Any) -> None:
    _write_without_a_generation(store)
    today = EmbeddingSettings()  # the default, not named by the operator
    assert today.model != PRE_GENERATIONS_MODEL  # the default has moved on since
    assert _open(store, today) == PRE_GENERATIONS_MODEL
    live = store.generations().live_generation()
    assert live is not None and live.recipe["model"] == PRE_GENERATIONS_MODEL
    # Recorded now: the next start serves the same model without guessing again.
    assert _open(store, EmbeddingSettings()) == PRE_GENERATIONS_MODEL


def test_a_model_the_operator_names_is_taken_as_the_one_that_built_it(store: Any) -> None:
    _write_without_a_generation(store)
    named = EmbeddingSettings(model="packaged:multilingual-e5-small")
    assert _open(store, named) == "packaged:multilingual-e5-small"


def test_an_empty_index_takes_todays_default(store: Any) -> None:
    today = EmbeddingSettings()
    assert _open(store, today) == today.model


def test_a_new_index_takes_the_configured_layout(store: Any) -> None:
    from index.types import PER_SCRIPT, SINGLE

    assert EmbeddingSettings().vector_layout == PER_SCRIPT  # the shipped default
    _open(store, EmbeddingSettings(vector_layout=SINGLE))
    assert store.vector_layout() == SINGLE
    live = store.generations().live_generation()
    assert live is not None and live.layout == SINGLE


def test_an_existing_index_keeps_its_layout_until_a_reindex(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from index.types import PER_SCRIPT, SINGLE

    _write_without_a_generation(store)  # one vector a chunk, as every index before layouts
    with caplog.at_level("WARNING"):
        _open(store, EmbeddingSettings(model="packaged:multilingual-e5-small"))
    assert store.vector_layout() == SINGLE
    live = store.generations().live_generation()
    assert live is not None and live.layout == SINGLE
    # Writes keep working in the index's own layout; a mixed chunk's parts are not kept.
    mixed = point("t1", "mixed", 0, text="Install the pump. 注意：请勿超压。")
    mixed.parts = [[1.0] * DIM]
    store.upsert([mixed])
    assert any("zhiku admin reindex" in r.getMessage() for r in caplog.records)
    assert EmbeddingSettings().vector_layout == PER_SCRIPT
