"""Tenant placement on the Qdrant server (index/qdrant_placement.py): tiered multitenancy.

qdrant-client's local mode refuses shard keys (``create_shard_key``: "Sharding is not supported
in the local Qdrant") and drops ``sharding_method``, and no Qdrant server installs here. So the
store runs on a :class:`RecordingClient`: the real local mode for every call (which ignores
``shard_key_selector``, so results are the unsharded ones), recording each call's arguments,
and keeping the shard keys and sharding method the server would. The tests assert what the
store *sends*: the collection's sharding, the keys, and each request's selector; and that the
whole contract suite still holds under tiered placement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from core.settings import QdrantSettings, Settings
from core.settings_qdrant_placement import QdrantPlacementSettings
from index.qdrant_placement import Placement, PlacementMismatch
from index.qdrant_server import QdrantServerStore
from index.store import Scope, SearchRequest
from index.types import SparseVector
from tests.index.contract.common import DIM, point
from tests.index.contract.generations import GenerationContract
from tests.index.contract.scope import ScopeContract
from tests.index.contract.search import SearchContract
from tests.index.contract.writes import (
    AccessUpdateContract,
    DeleteContract,
    SchemaContract,
    UpsertContract,
)

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")

ROUTED = {"upsert", "delete", "set_payload", "query_points", "count", "scroll"}


class RecordingClient:
    """Local mode, recording every call, with the shard keys local mode lacks."""

    def __init__(self) -> None:
        self.inner = QdrantClient(":memory:")
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.keys: dict[str, list[str]] = {}
        self.custom: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if name == "create_collection" and kwargs.get("sharding_method"):
                self.custom.add(args[0])
            result = attr(*args, **kwargs)
            if name == "get_collection" and args[0] in self.custom:
                result.config.params.sharding_method = models.ShardingMethod.CUSTOM
            return result

        return call

    def create_shard_key(self, collection: str, key: str, **kwargs: Any) -> bool:
        self.calls.append(("create_shard_key", (collection, key), kwargs))
        self.keys.setdefault(collection, []).append(key)
        return True

    def list_shard_keys(self, collection: str) -> models.ShardKeysResponse:
        keys = [models.ShardKeyDescription(key=k) for k in self.keys.get(collection, [])]
        return models.ShardKeysResponse(shard_keys=keys)

    def routed(self, *names: str) -> list[tuple[str, Any]]:
        """(call, its selector or None) for each routed call on the chunks collection."""
        return [
            (name, kwargs.get("shard_key_selector"))
            for name, args, kwargs in self.calls
            if name in (names or ROUTED) and args and args[0] == "chunks"
        ]


def tiered(**extra: Any) -> Placement:
    return Placement(QdrantPlacementSettings(dedicated_tenants=["t1"], **extra))


def big(tenant: str) -> models.ShardKeyWithFallback:
    return models.ShardKeyWithFallback(target=tenant, fallback="shared")


class TestTieredServerStore(
    UpsertContract,
    SchemaContract,
    DeleteContract,
    AccessUpdateContract,
    ScopeContract,
    SearchContract,
    GenerationContract,
):
    """The contract (less the filter and recall parts, which route as search does), with
    ``t1`` on its own shard key and ``t2`` on the shared one."""

    @pytest.fixture
    def store(self) -> Iterator[QdrantServerStore]:
        store = QdrantServerStore(RecordingClient(), "chunks", placement=tiered())  # type: ignore[arg-type]
        yield store
        store.close()


def _exercise(store: QdrantServerStore) -> None:
    store.upsert([point("t1", "a", 0), point("t2", "b", 0), point("t1", "a", 1)])
    for tenant in ("t1", "t2"):
        scope = Scope(tenant, frozenset({"everyone"}))
        dense = [1.0] + [0.0] * (DIM - 1)
        store.search(SearchRequest(dense=dense, sparse=SparseVector([0], [1.0])), scope)
        store.count(scope)
        store.document_chunks(scope, "a")
        store.set_document_access(tenant, "a", ["everyone"])
        store.delete_stale_chunks(tenant, "a", 1, 1)


def test_default_placement_sends_what_it_sent_before() -> None:
    client = RecordingClient()
    store = QdrantServerStore(client, "chunks")  # type: ignore[arg-type]
    store.ensure_collection(DIM)
    _exercise(store)
    create = next(kw for name, _, kw in client.calls if name == "create_collection")
    assert not {"sharding_method", "shard_number", "replication_factor"} & create.keys()
    assert client.routed() and all(selector is None for _, selector in client.routed())
    assert all("shard_key_selector" not in kw for _, _, kw in client.calls)
    assert not client.keys
    # One upsert call carries both tenants, as before.
    assert len(client.routed("upsert")) == 1


def test_tiered_collection_is_custom_sharded_with_a_key_per_big_tenant() -> None:
    client = RecordingClient()
    settings = {"shard_number": 2, "replication_factor": 2, "write_consistency_factor": 2}
    store = QdrantServerStore(client, "chunks", placement=tiered(**settings))  # type: ignore[arg-type]
    store.ensure_collection(DIM)
    create = next(kw for name, _, kw in client.calls if name == "create_collection")
    assert create["sharding_method"] == models.ShardingMethod.CUSTOM
    assert {k: create[k] for k in settings} == settings
    assert client.keys == {"chunks": ["shared", "t1"]}
    made = [kw for name, _, kw in client.calls if name == "create_shard_key"]
    assert made == [{"shards_number": 2, "replication_factor": 2}] * 2
    store.ensure_collection(DIM)  # a second process: no key made twice
    assert client.keys == {"chunks": ["shared", "t1"]}


def test_every_request_names_its_tenants_shard() -> None:
    client = RecordingClient()
    store = QdrantServerStore(client, "chunks", placement=tiered())  # type: ignore[arg-type]
    store.ensure_collection(DIM)
    client.calls.clear()  # set-up's own count (is a big tenant already on the shared shard?)
    _exercise(store)
    routed = client.routed()
    assert all(selector is not None for _, selector in routed)
    # The mixed upsert was split: one call per shard key.
    assert sorted(map(str, (s for _, s in client.routed("upsert")))) == sorted(
        map(str, [big("t1"), "shared"])
    )
    selectors = [s for name, s in routed if name != "upsert"]
    assert selectors.count(big("t1")) == selectors.count("shared") > 0
    assert set(map(str, selectors)) == {str(big("t1")), "shared"}


def test_a_tenant_already_on_the_shared_shard_is_not_given_an_empty_one() -> None:
    client = RecordingClient()
    store = QdrantServerStore(client, "chunks", placement=tiered())  # type: ignore[arg-type]
    store.ensure_collection(DIM)
    store.upsert([point("t2", "b", 0)])
    # An operator now names t2 as dedicated: its points are in the shared shard.
    later = QdrantServerStore(
        client,  # type: ignore[arg-type]
        "chunks",
        placement=Placement(QdrantPlacementSettings(dedicated_tenants=["t1", "t2", "t3"])),
    )
    later.ensure_collection(DIM)
    assert client.keys["chunks"] == ["shared", "t1", "t3"]
    # Its reads still name the shared shard as the fallback, so nothing disappears.
    assert later.count(Scope.admin("t2")) == 1
    assert client.routed("count")[-1][1] == big("t2")


def test_the_sharding_method_is_checked_against_the_settings() -> None:
    client = RecordingClient()
    QdrantServerStore(client, "chunks").ensure_collection(DIM)  # type: ignore[arg-type]
    with pytest.raises(PlacementMismatch, match="automatic"):
        QdrantServerStore(client, "chunks", placement=tiered()).ensure_collection(DIM)  # type: ignore[arg-type]
    other = RecordingClient()
    QdrantServerStore(other, "chunks", placement=tiered()).ensure_collection(DIM)  # type: ignore[arg-type]
    with pytest.raises(PlacementMismatch, match="custom"):
        QdrantServerStore(other, "chunks").ensure_collection(DIM)  # type: ignore[arg-type]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKU_QDRANT__PLACEMENT__DEDICATED_TENANTS", " 华为, acme ,华为")
    monkeypatch.setenv("ZHIKU_QDRANT__PLACEMENT__REPLICATION_FACTOR", "2")
    placement = Settings().qdrant.placement
    assert placement.dedicated_tenants == ["华为", "acme"]
    assert placement.replication_factor == 2 and placement.custom
    monkeypatch.setenv("ZHIKU_QDRANT__PLACEMENT__DEDICATED_TENANTS", '["臺灣", "b"]')
    assert Settings().qdrant.placement.dedicated_tenants == ["臺灣", "b"]
    assert not QdrantSettings().placement.custom
    with pytest.raises(ValueError, match="shared"):
        Placement(QdrantPlacementSettings(dedicated_tenants=["shared"]))
