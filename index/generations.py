"""Index generations: which embedding model built the live vectors, and re-indexing beside them.

A *generation* is one complete set of vectors built by one model. Its record
(:class:`Generation`) lives in the store beside the vectors (the embedded shard's
``zhiku.json``, the server's pointer collection), so every process that opens the store learns
which model the vectors came from, and never embeds queries with another.

Switching models is a re-index (:func:`rebuild`): the new generation is built *beside* the live
one, from the chunk texts already in the live payloads (no re-parsing), while the live one keeps
answering; it is brought level by passes that compare the two generations point by point (ids
and payload fingerprints), so writes and deletes made meanwhile, by any process, are caught up,
and an interrupted build resumes where it stopped (only what differs is embedded again). The
last pass runs with this process's writes paused, and the switch is atomic (a folder exchange or
a pointer write); the old generation is dropped after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from core.errors import Component, InvalidInput, UpstreamUnavailable
from index.types import SINGLE, TEXT, ChunkPoint, SparseVector

log = logging.getLogger(__name__)

Side = Literal["live", "building"]
# Encodes chunk texts for the new generation: (dense vectors, sparse vectors, each text's
# extra dense vectors: none unless the generation's layout is ``per_script``), in order.
Encode = Callable[
    [list[str]], tuple[list[list[float]], list[SparseVector], list[list[list[float]]]]
]

# Catch-up passes before the final one: each embeds only what changed during the previous.
MAX_PASSES = 5
# A pass that changed this few points is followed by the final (writes-paused) one.
SETTLED = 256


class GenerationMismatch(InvalidInput):
    """The configured embedding model is not the one that built the live generation."""


@dataclass(frozen=True)
class ModelIdentity:
    """What makes vectors comparable: the model's name, a key of its files or export recipe,
    its dimension, and the sparse encoder's version (term ids and weights)."""

    name: str
    key: str
    dim: int
    sparse: str

    def describe(self) -> str:
        return f"{self.name} [{self.key}] {self.dim}-d, sparse {self.sparse}"


@dataclass(frozen=True)
class Generation:
    """One complete set of vectors. ``recipe``: the embedding settings that rebuild its model
    (``model``, ``backend``), so a process can embed queries the way the vectors were made.
    ``layout``: how its collection holds dense vectors (:data:`index.types.VectorLayout`)."""

    number: int
    model: ModelIdentity
    recipe: dict[str, str] = field(default_factory=dict, compare=False)
    layout: str = SINGLE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Generation:
        # Records written before layouts: their collections held one vector per chunk.
        return cls(
            int(raw["number"]),
            ModelIdentity(**raw["model"]),
            dict(raw.get("recipe", {})),
            str(raw.get("layout", SINGLE)),
        )


@dataclass(frozen=True)
class VectorSource:
    """Which model made a write's vectors, for which collection layout: what an upsert
    carries, so the store can refuse vectors made for a generation no longer live."""

    model: ModelIdentity
    layout: str

    @classmethod
    def of(cls, generation: Generation) -> VectorSource:
        return cls(generation.model, generation.layout)

    def made_for(self, live: Generation | None) -> bool:
        """Whether these vectors belong in ``live`` (None: no record to hold them against).
        The sparse encoder's version is not compared: it is this code's, whichever model
        (see ``services.reindex.open_serving_model``, which serves across it)."""
        if live is None:
            return True
        mine, theirs = self.model, live.model
        same_model = (mine.name, mine.key, mine.dim) == (theirs.name, theirs.key, theirs.dim)
        return same_model and self.layout == live.layout


class GenerationSwitched(UpstreamUnavailable):
    """An upsert's vectors were made by a model (or for a layout) other than the live
    generation's: a re-index switched generations after they were embedded. Nothing of the
    write is kept; its caller embeds the chunks again with the live model. A caller that
    does not gets a retryable outage (the retry embeds with the live model)."""

    component = Component.VECTOR_STORE

    def __init__(self, made_by: VectorSource | None, live: Generation | None) -> None:
        """``made_by`` None: a write that named no model, which landed in a generation
        switched away from while it was made (the server's check after the write)."""
        model = f"{made_by.model.describe()} ({made_by.layout})" if made_by else "an unnamed model"
        live_model = f"{live.number}, {live.model.describe()}" if live else "unrecorded"
        super().__init__(
            f"vectors made by {model} refused: the index switched generations, the live one "
            f"is {live_model}; embed them again and write again"
        )
        self.made_by, self.live = made_by, live


def identity_of(embedder: Any, sparse: Any) -> ModelIdentity:
    """An embedder's identity. ``model_key`` (a hash of the model's files and export recipe)
    where the backend offers one; otherwise the backend class, so torch and ONNX vectors of the
    same model (cosine ~0.99, not equal) are never mixed."""
    key = getattr(embedder, "model_key", None) or type(embedder).__name__
    sparse_version = getattr(sparse, "version", None) or type(sparse).__name__
    return ModelIdentity(str(embedder.name), str(key), int(embedder.dim), str(sparse_version))


class GenerationOps(Protocol):
    """What a backend offers for re-indexing; ``store.generations()`` returns one."""

    def live_generation(self) -> Generation | None:
        """The live generation's record; None for an index built before generations."""

    def adopt(self, generation: Generation) -> None:
        """Record ``generation`` as the live one's (an index that had no record)."""

    def building_generation(self) -> Generation | None:
        """The generation being built beside the live one (an interrupted build), if any."""

    def start_building(self, generation: Generation) -> None:
        """An empty generation beside the live one (any other being built is discarded)."""

    def discard_building(self) -> None: ...

    def fingerprints(self, side: Side) -> dict[str, str]:
        """Every point of that side, all tenants: id -> :func:`fingerprint` of its payload.
        ``building`` after the switch: the generation that became live."""

    def fetch_live(self, ids: Sequence[str]) -> list[ChunkPoint]:
        """Those live points with their payloads (no vectors); missing ids are left out.
        After the switch: the generation that became live."""

    def write_building(self, points: Sequence[ChunkPoint]) -> None: ...

    def delete_building(self, ids: Sequence[str]) -> None: ...

    def pause_writes(self) -> Any:
        """A context manager: this process's writes to the store wait while it is held."""

    def switch(self) -> bool:
        """Make the built generation live, atomically, with writes paused. True when other
        processes may have written to the old one meanwhile (a shared server: their writes
        are carried over); False when this process is the only writer."""

    def late_fingerprints(self) -> dict[str, str]:
        """The old generation's fingerprints once no process writes to it any more (a
        moment after the switch, see :meth:`switch`)."""

    def carrying_over(self) -> Any:
        """A context manager held while late writes are carried over: other processes'
        writes to the new generation made meanwhile are made again after it."""

    def keep_carrying(self) -> None:
        """Called before each carried slice: a long carry-over stays marked."""

    def fetch_previous(self, ids: Sequence[str]) -> list[ChunkPoint]: ...

    def drop_previous(self) -> None: ...

    def close(self) -> None:
        """Let go of the generation being built (it stays, to be resumed)."""


@dataclass
class Progress:
    """Where a re-index stands; ``phase``: building, catching up, switching, done.
    ``done``/``total``: chunks of the current pass; ``embedded``: of every pass so far."""

    phase: str
    generation: int
    done: int = 0
    total: int = 0
    passes: int = 0
    embedded: int = 0


def fingerprint(payload: dict[str, Any]) -> str:
    """A payload's digest: equal payloads, equal fingerprints (key order ignored)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def next_generation(
    ops: GenerationOps, model: ModelIdentity, recipe: dict[str, str], layout: str = SINGLE
) -> Generation:
    live = ops.live_generation()
    return Generation((live.number if live else 1) + 1, model, recipe, layout)


def rebuild(
    ops: GenerationOps,
    target: Generation,
    encode: Encode,
    report: Callable[[Progress], None] = lambda _: None,
    batch: int = 64,
    switched: Callable[[], None] = lambda: None,
) -> Generation:
    """Build ``target`` beside the live generation, switch to it, drop the old one.
    ``switched`` runs right after the switch, writes still paused (the caller's model swap)."""
    try:
        return _rebuild(ops, target, encode, report, batch, switched)
    finally:
        ops.close()


def _rebuild(
    ops: GenerationOps,
    target: Generation,
    encode: Encode,
    report: Callable[[Progress], None],
    batch: int,
    switched: Callable[[], None],
) -> Generation:
    building = ops.building_generation()
    if building is not None and (building.model, building.layout) == (target.model, target.layout):
        target = building  # an interrupted build of the same model and layout: resumed
        log.info("resuming the build of generation %d", target.number)
    else:
        ops.start_building(target)
    progress = Progress("building", target.number)
    # What the new generation holds, kept up to date as we write: one scan, not one a pass.
    built = ops.fingerprints("building")
    for _ in range(MAX_PASSES):
        changed = _sync(ops, built, encode, report, progress, batch)
        progress.phase = "catching up"
        if changed <= SETTLED:
            break
    with ops.pause_writes():
        _sync(ops, built, encode, report, progress, batch)
        progress.phase = "switching"
        report(progress)
        others_wrote = ops.switch()
        switched()
    if others_wrote:
        _late_writes(ops, built, encode, batch)
    ops.drop_previous()
    progress.phase = "done"
    report(progress)
    return target


def _sync(
    ops: GenerationOps,
    built: dict[str, str],
    encode: Encode,
    report: Callable[[Progress], None],
    progress: Progress,
    batch: int,
) -> int:
    """One pass: embed what the live generation has and the new one lacks (or holds with
    another payload); delete from the new one what the live one no longer has."""
    live = ops.fingerprints("live")
    gone = [point_id for point_id in built if point_id not in live]
    todo = [point_id for point_id, fp in live.items() if built.get(point_id) != fp]
    progress.passes += 1
    progress.done, progress.total = 0, len(todo)
    report(progress)
    for ids in _slices(gone, batch):
        ops.delete_building(ids)
        for point_id in ids:
            del built[point_id]
    for ids in _slices(todo, batch):
        points = ops.fetch_live(ids)  # a point deleted since the scan: the next pass sees it
        ops.write_building(_encoded(points, encode))
        built.update((p.id, fingerprint(p.payload)) for p in points)
        progress.done += len(ids)
        progress.embedded += len(points)
        report(progress)
    return len(gone) + len(todo)


def _late_writes(ops: GenerationOps, built: dict[str, str], encode: Encode, batch: int) -> None:
    """Writes other processes made to the old generation that the new one lacks: those
    after the last pass's scan (which paused only this process's writes), up to the switch
    and the instant after it. Held against ``built`` (what the new generation held at the
    switch), not against the old one read at the switch: a write between the last scan and
    that read was in both old readings, and was lost.

    Not over a point the new generation changed since the switch: that write came later (an
    access change, a delete), and a carried-over copy of the old one would undo it (the old
    list back on the chunks, a deleted document back in search), with the database believing
    the store in line. Each slice is checked again right before it is written; a write
    another process makes between that check and the carried write (one round trip) is made
    again by its writer, which sees the carry-over marked (``ops.carrying_over``, see
    :mod:`index.server_generations`)."""
    after = ops.late_fingerprints()
    with ops.carrying_over():
        _carry_over(ops, after, built, encode, batch)


def _carry_over(
    ops: GenerationOps, after: dict[str, str], built: dict[str, str], encode: Encode, batch: int
) -> None:
    now = ops.fingerprints("building")  # the new generation, live since the switch

    def untouched(point_ids: list[str]) -> list[str]:
        if not point_ids:
            return []
        current = {p.id: fingerprint(p.payload) for p in ops.fetch_live(point_ids)}
        return [point_id for point_id in point_ids if current.get(point_id) == built.get(point_id)]

    gone = [p for p in built if p not in after and now.get(p) == built[p]]
    changed = [p for p, fp in after.items() if built.get(p) != fp and now.get(p) == built.get(p)]
    for ids in _slices(gone, batch):
        ops.keep_carrying()
        ops.delete_building(untouched(ids))
    for ids in _slices(changed, batch):
        ops.keep_carrying()
        points = _encoded(ops.fetch_previous(ids), encode)
        keep = set(untouched([p.id for p in points]))  # checked again, after the encoding
        if keep:
            ops.write_building([p for p in points if p.id in keep])
    if gone or changed:
        log.info(
            "re-index: %d late writes to the old generation carried over", len(gone) + len(changed)
        )


def _encoded(points: list[ChunkPoint], encode: Encode) -> list[ChunkPoint]:
    texts = [str(p.payload.get(TEXT, "")) for p in points]
    dense, sparse, parts = encode(texts) if points else ([], [], [])
    return [
        ChunkPoint(p.id, list(d), s, p.payload, extra)
        for p, d, s, extra in zip(points, dense, sparse, parts, strict=True)
    ]


def _slices(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
