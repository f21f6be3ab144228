"""Where the Qdrant server keeps each tenant's points (``ZHIKU_QDRANT__PLACEMENT__*``).

By default every tenant shares the collection's automatically sharded points, told apart by
the ``tenant_id`` payload field (indexed with ``is_tenant``): right for many small tenants.
Naming ``dedicated_tenants`` switches the collection to Qdrant's tiered multitenancy (custom
sharding, Qdrant >= 1.16): each named tenant gets its own shard key (its own shards, which an
operator can place on its own nodes), every other tenant goes to the ``fallback_key`` shard.
The sharding method is fixed when the collection is created: changing it for an existing
collection takes a re-index (``zhiku admin reindex``) into a new generation.

The embedded engine (no ``url``) ignores this group: one process, one shard.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode


class QdrantPlacementSettings(BaseModel):
    # Tenants given their own shard key; comma-separated in the environment (``NoDecode``: not
    # read as JSON first).
    dedicated_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The shared shard key of every other tenant (custom sharding only).
    fallback_key: str = "shared"
    # Shards per collection (auto sharding) or per shard key (custom); 0: the server's default.
    shard_number: int = Field(default=0, ge=0)
    # Copies of each shard; 0: the server's default (1). 2 survives the loss of one node.
    replication_factor: int = Field(default=0, ge=0)
    # Replicas that must confirm a write before it returns; 0: the server's default (1).
    write_consistency_factor: int = Field(default=0, ge=0)

    @field_validator("dedicated_tenants", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # A plain comma-separated string, as an operator writes it in an .env file.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("dedicated_tenants")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @property
    def custom(self) -> bool:
        """Custom sharding (tiered multitenancy): only when some tenant is dedicated."""
        return bool(self.dedicated_tenants)
