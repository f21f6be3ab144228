"""Generations on a Qdrant server: one collection per generation, behind a stored pointer.

The first generation is the configured collection itself (``chunks``), as every index made
before generations is; a later one is ``chunks-g<N>``. Which one is live is a one-point
pointer collection (``chunks-generations``), read by every process that serves or writes the
index (:meth:`QdrantServerStore._collection`: writes re-read it each time, reads at most every
:data:`POINTER_TTL_S`). A pointer rather than a Qdrant alias: an alias cannot take the name of
the existing ``chunks`` collection, so indexes made before generations could not switch
without a moment where ``chunks`` named nothing.

The switch is one pointer write. Writes from other processes (Celery workers) that reached
the old collection after the last pass read it, and in the instant after the switch, are
carried over (:meth:`ServerGenerations.late_fingerprints`), and the old collection is dropped
once every process has re-read the pointer.

While they are carried over the pointer is marked (``carrying_until``, with a new
``carry_epoch``: :meth:`ServerGenerations.carrying_over`). A carried slice is checked
against the new collection and then written: a write another process made in between (one
round trip) would be overwritten by the older carried copy. Every writer reads the pointer
before and after its write (:meth:`QdrantServerStore._disturbed_since`), and one whose write
overlapped a mark, or a mark begun and ended meanwhile (another epoch), writes again once no
carry-over runs: the last copy is always its.

Whether a mark is live is judged without comparing clocks across machines (:class:`CarryWatch`):
a writer takes a mark for live until it has seen the same mark, unrenewed, for
:data:`CARRY_MARK_S` on its own monotonic clock (the re-index renews it every half of that). So a
re-index that crashed while carrying over holds each writer process back at most that long
after the process first sees its mark, and a writer whose clock is off still sees a live mark.
Only a mark whose lapse time (written on the re-index's clock) is over :data:`DEAD_MARK_S` in
the writer's past is ignored at first sight: a crash long ago, or a writer clock that many
minutes ahead.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from qdrant_client import QdrantClient, models

from index.generations import Generation, Side, fingerprint
from index.qdrant_server_models import layout_of, point_structs, upstream
from index.types import DENSE, ChunkPoint, SparseVector

# How long a reading process may go on using the collection it last resolved.
POINTER_TTL_S = 1.0
# A carry-over's mark on the pointer lapses this long after it was last renewed (a re-index
# that crashed while carrying over does not hold every writer back for longer).
CARRY_MARK_S = 60.0
# A mark this long past its lapse time on the writer's clock is a crashed carry-over's,
# ignored at first sight (no writer process waits CARRY_MARK_S for it); only a writer clock
# ahead of the re-index's by more than this (plus the mark's remaining half) could misjudge
# a live one.
DEAD_MARK_S = 600.0
_POINTER_ID = str(uuid.UUID(int=1))
_PAGE = 512


def pointer_collection(base: str) -> str:
    return f"{base}-generations"


def read_pointer(client: QdrantClient, base: str) -> dict[str, Any]:
    name = pointer_collection(base)
    if not client.collection_exists(name):
        return {}
    records = client.retrieve(name, [_POINTER_ID], with_payload=True)
    return dict(records[0].payload or {}) if records else {}


def write_pointer(client: QdrantClient, base: str, pointer: dict[str, Any]) -> None:
    name = pointer_collection(base)
    if not client.collection_exists(name):
        client.create_collection(
            name, vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT)
        )
    point = models.PointStruct(id=_POINTER_ID, vector=[1.0], payload=pointer)
    client.upsert(name, points=[point], wait=True)


def live_collection(client: QdrantClient, base: str) -> str:
    live = read_pointer(client, base).get("live") or {}
    return str(live.get("collection") or base)


@dataclass(frozen=True)
class Live:
    """What a writer reads from the pointer: the live generation's collection and record
    (None before one was adopted), and the carry-over's epoch and whether one runs now."""

    collection: str
    generation: Generation | None
    carry_epoch: int
    carrying: bool

    def undisturbed(self, since: Live) -> bool:
        """Whether a write made between reading ``since`` and this stands: the same
        collection live, and no carry-over running or begun meanwhile (it may have written
        an older copy over it)."""
        same = (self.collection, self.carry_epoch) == (since.collection, since.carry_epoch)
        return same and not (self.carrying or since.carrying)


class CarryWatch:
    """One process's view of the carry-over mark: live while present and renewed within
    :data:`CARRY_MARK_S` as this process saw it. A renewal writes a new ``carrying_until``
    (a new epoch begins a new mark), so the mark's own value tells renewals apart; how long
    it went unrenewed is measured on this process's monotonic clock, never by comparing the
    re-index's wall clock with this one's (both unaffected by NTP steps)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[int, float] | None = None  # the mark as last read
        self._since = 0.0  # when it was first read so (time.monotonic)

    def carrying(self, pointer: dict[str, Any]) -> bool:
        if "carrying_until" not in pointer:
            with self._lock:
                self._seen = None
            return False
        until = float(pointer["carrying_until"])
        mark = (int(pointer.get("carry_epoch", 0)), until)
        now = time.monotonic()
        with self._lock:
            if mark != self._seen:
                self._seen, self._since = mark, now
            unrenewed_s = now - self._since
        if time.time() > until + DEAD_MARK_S:
            return False
        return unrenewed_s < CARRY_MARK_S


def read_live(client: QdrantClient, base: str, watch: CarryWatch) -> Live:
    pointer = read_pointer(client, base)
    live = pointer.get("live") or {}
    raw = live.get("generation")
    return Live(
        str(live.get("collection") or base),
        Generation.from_json(raw) if raw else None,
        int(pointer.get("carry_epoch", 0)),
        watch.carrying(pointer),
    )


F = TypeVar("F", bound=Callable[..., Any])


def _translated(method: F) -> F:
    """The client's transport errors as the store's (503 when the server is down)."""

    @wraps(method)
    def wrapper(self: ServerGenerations, *args: Any, **kwargs: Any) -> Any:
        with upstream():
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class ServerGenerations:
    def __init__(self, store: Any) -> None:
        """``store``: the :class:`~index.qdrant_server.QdrantServerStore` (which imports this
        module)."""
        self._store = store
        self._client = store._client
        self._base = store._name
        self._previous: str | None = None
        self._switched_to: str | None = None

    def _pointer(self) -> dict[str, Any]:
        return read_pointer(self._client, self._base)

    # --- records

    @_translated
    def live_generation(self) -> Generation | None:
        raw = (self._pointer().get("live") or {}).get("generation")
        return Generation.from_json(raw) if raw else None

    @_translated
    def adopt(self, generation: Generation) -> None:
        pointer = self._pointer()
        live = pointer.get("live") or {"collection": self._store._collection}
        pointer["live"] = {**live, "generation": generation.to_json()}
        write_pointer(self._client, self._base, pointer)

    @_translated
    def building_generation(self) -> Generation | None:
        building = self._pointer().get("building") or {}
        name = building.get("collection")
        if not name or not self._client.collection_exists(name):
            return None
        return Generation.from_json(building["generation"])

    def _building(self) -> str:
        building = self._pointer().get("building") or {}
        if not building.get("collection"):
            raise RuntimeError("no generation is being built")
        return str(building["collection"])

    # --- the new collection

    @_translated
    def start_building(self, generation: Generation) -> None:
        self.discard_building()
        name = f"{self._base}-g{generation.number}"
        if self._client.collection_exists(name):  # left by a crash before its pointer write
            self._client.delete_collection(name)
        self._store._create(generation.model.dim, name, generation.layout)
        self._store._ensure_indexes(name)
        pointer = self._pointer()
        pointer["building"] = {"collection": name, "generation": generation.to_json()}
        if "live" not in pointer:
            pointer["live"] = {"collection": self._store._collection}
        write_pointer(self._client, self._base, pointer)

    @_translated
    def discard_building(self) -> None:
        pointer = self._pointer()
        building = pointer.pop("building", None) or {}
        name = building.get("collection")
        if name and name != (pointer.get("live") or {}).get("collection"):
            self._client.delete_collection(name)
        if building:
            write_pointer(self._client, self._base, pointer)

    # --- reading and writing

    @_translated
    def fingerprints(self, side: Side) -> dict[str, str]:
        # "building" after the switch: the generation that became live.
        name = self._new_collection() if side == "building" else self._store._collection
        return _fingerprints(self._client, name)

    @_translated
    def fetch_live(self, ids: Sequence[str]) -> list[ChunkPoint]:
        return _fetch(self._client, self._store._collection, ids)

    @_translated
    def write_building(self, points: Sequence[ChunkPoint]) -> None:
        name = self._new_collection()
        params = self._client.get_collection(name).config.params.vectors[DENSE]  # type: ignore[index]
        structs = point_structs(points, params.size, layout_of(params))
        # One call per shard key under tiered placement; one call, no key, by default.
        for route, group in self._store.placement.by_tenant(points, structs):
            self._client.upsert(name, points=group, wait=True, **route)

    @_translated
    def delete_building(self, ids: Sequence[str]) -> None:
        if ids:
            selector = models.PointIdsList(points=list(ids))
            self._client.delete(self._new_collection(), points_selector=selector, wait=True)

    def _new_collection(self) -> str:
        """The collection being built; after the switch, the one that became live."""
        return self._switched_to or self._building()

    @contextmanager
    def pause_writes(self) -> Iterator[None]:
        with self._store._writes:
            yield

    # --- the switch

    @_translated
    def switch(self) -> bool:
        old = self._store._collection
        pointer = self._pointer()
        building = pointer.pop("building")
        pointer["live"] = building
        write_pointer(self._client, self._base, pointer)
        self._switched_to = str(building["collection"])
        self._previous = old
        self._store._follow()
        return True  # other processes may have written to the old one: carried over

    @_translated
    def late_fingerprints(self) -> dict[str, str]:
        # Every other process re-reads the pointer within its TTL: after this, none writes
        # to the old collection any more.
        time.sleep(2 * POINTER_TTL_S)
        assert self._previous is not None
        return _fingerprints(self._client, self._previous)

    @contextmanager
    def carrying_over(self) -> Iterator[None]:
        """The pointer marked while the late writes are carried over, with a new epoch: a
        writer whose write overlapped the mark (read before and after it) writes again once
        it is gone, so a carried copy never stands over a later write."""
        self._mark_carry(new_epoch=True)
        try:
            yield
        finally:
            with upstream():
                pointer = self._pointer()
                pointer.pop("carrying_until", None)
                write_pointer(self._client, self._base, pointer)

    @_translated
    def keep_carrying(self) -> None:
        """Renews the mark when half its time is gone (a long carry-over)."""
        until = float(self._pointer().get("carrying_until", 0))
        if until - time.time() < CARRY_MARK_S / 2:
            self._mark_carry(new_epoch=False)

    @_translated
    def _mark_carry(self, new_epoch: bool) -> None:
        pointer = self._pointer()
        pointer["carry_epoch"] = int(pointer.get("carry_epoch", 0)) + int(new_epoch)
        pointer["carrying_until"] = time.time() + CARRY_MARK_S
        write_pointer(self._client, self._base, pointer)

    @_translated
    def fetch_previous(self, ids: Sequence[str]) -> list[ChunkPoint]:
        assert self._previous is not None
        return _fetch(self._client, self._previous, ids)

    @_translated
    def drop_previous(self) -> None:
        if self._previous is not None:
            self._client.delete_collection(self._previous)
            self._previous = None

    def close(self) -> None:
        pass


def _fingerprints(client: QdrantClient, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    offset: Any = None
    while True:
        page, offset = client.scroll(
            name, limit=_PAGE, offset=offset, with_payload=True, with_vectors=False
        )
        for record in page:
            out[str(record.id)] = fingerprint(dict(record.payload or {}))
        if offset is None:
            return out


def _fetch(client: QdrantClient, name: str, ids: Sequence[str]) -> list[ChunkPoint]:
    records = client.retrieve(name, list(ids), with_payload=True, with_vectors=False)
    return [ChunkPoint(str(r.id), [], SparseVector([], []), dict(r.payload or {})) for r in records]
