"""A version's chunks are kept in pages: a range is read from the pages it falls on and no
other, a range past the end comes back short, and a version kept as one list before pages
existed is still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.blobs import LocalBlobStore, chunks_key
from core.chunk_pages import PAGE_CHUNKS, kept_count, page_key, read_chunks, write_chunks
from core.errors import NotFound


class _Reads(LocalBlobStore):
    """A real local store that notes the keys read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read: list[str] = []

    def get(self, key: str) -> bytes:
        self.read.append(key)
        return super().get(key)


def _records(count: int) -> list[dict[str, object]]:
    return [
        {"position": p, "text": f"chunk {p} 块 {p}", "section_path": ["A", "B"]}
        for p in range(count)
    ]


def test_a_range_reads_only_the_pages_it_is_on(tmp_path: Path) -> None:
    blobs = _Reads(tmp_path)
    records = _records(4 * PAGE_CHUNKS + 10)
    write_chunks(blobs, "t1", "d1", 2, records)
    assert blobs.exists(page_key("t1", "d1", 2, 4)) and not blobs.exists(chunks_key("t1", "d1", 2))

    def read(start: int, end: int) -> list[str]:
        blobs.read.clear()
        assert read_chunks(blobs, "t1", "d1", 2, start, end) == records[start:end]
        return blobs.read

    assert read(PAGE_CHUNKS + 5, PAGE_CHUNKS + 9) == [page_key("t1", "d1", 2, 1)]
    assert read(PAGE_CHUNKS - 1, 3 * PAGE_CHUNKS) == [page_key("t1", "d1", 2, p) for p in (0, 1, 2)]
    assert read(0, 1) == [page_key("t1", "d1", 2, 0)]
    # The last page holds the rest; a range past the end comes back short, or empty.
    assert len(read_chunks(blobs, "t1", "d1", 2, 4 * PAGE_CHUNKS, 5 * PAGE_CHUNKS)) == 10
    assert read_chunks(blobs, "t1", "d1", 2, 6 * PAGE_CHUNKS, 6 * PAGE_CHUNKS + 3) == []
    assert read_chunks(blobs, "t1", "d1", 2, 7, 7) == []


def test_a_version_kept_as_one_list_before_pages_is_read(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    records = _records(40)
    blobs.put(chunks_key("t1", "old", 1), json.dumps(records).encode())
    assert read_chunks(blobs, "t1", "old", 1, 30, 45) == records[30:]


def test_a_version_without_chunks_is_not_found(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    with pytest.raises(NotFound):
        read_chunks(blobs, "t1", "none", 1, 0, 4)


@pytest.mark.parametrize("count", [1, PAGE_CHUNKS, PAGE_CHUNKS + 1, 3 * PAGE_CHUNKS - 7])
def test_a_kept_versions_count_is_read_from_its_pages(tmp_path: Path, count: int) -> None:
    blobs = _Reads(tmp_path)
    write_chunks(blobs, "t1", "d1", 1, _records(count))
    assert kept_count(blobs, "t1", "d1", 1) == count
    assert blobs.read == [page_key("t1", "d1", 1, (count - 1) // PAGE_CHUNKS)]  # the last only
    assert kept_count(blobs, "t1", "d1", 2) == 0  # never parsed, or removed


def test_a_kept_versions_count_from_its_one_list(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    blobs.put(chunks_key("t1", "d1", 1), json.dumps(_records(7)).encode())
    assert kept_count(blobs, "t1", "d1", 1) == 7
