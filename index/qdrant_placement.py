"""Tenant placement on a Qdrant server: which shard key each tenant's points live under.

Two shapes (:class:`~core.settings_qdrant_placement.QdrantPlacementSettings`):

- default (no dedicated tenants): automatic sharding, every tenant in the same shards, told
  apart by the ``tenant_id`` payload index (``is_tenant``). No request carries a shard key:
  :meth:`Placement.route` returns ``{}``, so the calls are exactly those made before placement
  existed.
- tiered (Qdrant >= 1.16): the collection is created with ``sharding_method=custom``; the
  fallback key holds every small tenant, each dedicated tenant has its own key. A dedicated
  tenant's writes and reads name ``ShardKeyWithFallback(target=tenant, fallback=shared)``: the
  server uses the tenant's key when it exists and is active, the shared one otherwise, so a
  tenant listed before its shard key exists (or while it is being promoted) stays readable.

Promotion of a tenant that already has points in the shared shard is an operator's step (the
data must be copied: a ``Partial`` shard key, Qdrant's ``replicate_points``, then activate;
see docs/scaling.md): :meth:`Placement.ensure_keys` refuses to create such a key itself, since
an empty active key would hide the tenant's points from its own reads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from core.settings_qdrant_placement import QdrantPlacementSettings
from index.filters import Condition
from index.qdrant_server_models import compile_filter
from index.types import TENANT, ChunkPoint

log = logging.getLogger(__name__)

Selector = str | models.ShardKeyWithFallback


class PlacementMismatch(ValueError):
    """The collection's sharding method is not the one the settings ask for (an operator's
    error at start-up: the method is fixed at creation; a re-index changes it)."""


class Placement:
    def __init__(self, settings: QdrantPlacementSettings | None = None) -> None:
        self.settings = settings or QdrantPlacementSettings()
        self.custom = self.settings.custom
        self.dedicated = frozenset(self.settings.dedicated_tenants)
        self.fallback = self.settings.fallback_key
        if self.fallback in self.dedicated:
            raise ValueError(f"tenant {self.fallback!r} is also the shared shard key's name")

    # --- collection ---------------------------------------------------------------------

    def create_options(self) -> dict[str, Any]:
        """Extra ``create_collection`` arguments; only those set (the server's defaults
        otherwise). With custom sharding ``shard_number`` is the count per shard key."""
        s = self.settings
        options: dict[str, Any] = {
            name: value
            for name, value in (
                ("shard_number", s.shard_number),
                ("replication_factor", s.replication_factor),
                ("write_consistency_factor", s.write_consistency_factor),
            )
            if value
        }
        if self.custom:
            options["sharding_method"] = models.ShardingMethod.CUSTOM
        return options

    def check(self, client: QdrantClient, name: str) -> None:
        """Refuse a collection whose sharding method differs from the settings' (writes would
        fail on every call: a shard key sent to an auto-sharded collection, or none to a
        custom one)."""
        method = client.get_collection(name).config.params.sharding_method
        custom = method == models.ShardingMethod.CUSTOM
        if custom != self.custom:
            want = "custom (dedicated tenants named)" if self.custom else "automatic"
            raise PlacementMismatch(
                f"collection {name!r} uses {'custom' if custom else 'automatic'} sharding, the "
                f"settings ask for {want}; re-index into a new generation to change it"
            )

    def ensure_keys(self, client: QdrantClient, name: str) -> list[str]:
        """Create the shared key and each dedicated tenant's key that is missing; returns the
        keys created. A tenant whose points already sit in the shared shard is skipped (with a
        warning): it must be promoted with its data, not given an empty shard."""
        if not self.custom:
            return []
        existing = {str(k.key) for k in (client.list_shard_keys(name).shard_keys or [])}
        created = []
        for key in [self.fallback, *self.settings.dedicated_tenants]:
            if key in existing:
                continue
            if key != self.fallback and self._has_shared_points(client, name, key):
                log.warning(
                    "tenant %r has points in the shared shard %r: not given its own shard key "
                    "(promote it with its data, see docs/scaling.md); it stays on the shared one",
                    key,
                    self.fallback,
                )
                continue
            client.create_shard_key(
                name,
                key,
                shards_number=self.settings.shard_number or None,
                replication_factor=self.settings.replication_factor or None,
            )
            created.append(key)
        return created

    def _has_shared_points(self, client: QdrantClient, name: str, tenant: str) -> bool:
        if self.fallback not in {
            str(k.key) for k in (client.list_shard_keys(name).shard_keys or [])
        }:
            return False
        flt = compile_filter(Condition(TENANT, "==", tenant))
        found = client.count(name, count_filter=flt, exact=False, shard_key_selector=self.fallback)
        return found.count > 0

    # --- requests -----------------------------------------------------------------------

    def selector(self, tenant_id: str) -> Selector | None:
        if not self.custom:
            return None
        if tenant_id in self.dedicated:
            return models.ShardKeyWithFallback(target=tenant_id, fallback=self.fallback)
        return self.fallback

    def route(self, tenant_id: str) -> dict[str, Any]:
        """Keyword arguments for a request about one tenant: ``{}`` unless custom sharding."""
        selector = self.selector(tenant_id)
        return {} if selector is None else {"shard_key_selector": selector}

    def by_tenant(
        self, points: Sequence[ChunkPoint], structs: Sequence[models.PointStruct]
    ) -> list[tuple[dict[str, Any], list[models.PointStruct]]]:
        """``structs`` (made from ``points``, same order) grouped into one request per shard
        key, each with its routing arguments; one group with ``{}`` unless custom sharding."""
        if not self.custom:
            return [({}, list(structs))] if structs else []
        groups: dict[str, list[models.PointStruct]] = {}
        for point, struct in zip(points, structs, strict=True):
            groups.setdefault(str(point.payload[TENANT]), []).append(struct)
        return [(self.route(tenant), batch) for tenant, batch in groups.items()]
