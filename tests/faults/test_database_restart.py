"""PostgreSQL restarted mid-ingestion, as after a crash (``pg_ctl stop -m immediate``: every
connection dropped mid-statement, the next start recovers from the log).

The embedded default: the API process ingests on its own threads and serves search from its
own store. While the database is down a search is a plain 503 that names the database, at
once, not a hang; once it is back, ingestion resumes without a restart of Zhiku and every
document ends ready exactly once, each chunk in the store exactly once.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.world import World
from tests.faults.services import PrivatePostgres
from tests.live import ThreadServer
from tests.support import make_settings

pytestmark = pytest.mark.slow  # a private PostgreSQL cluster, stopped and started

# The longest a request may take while the database is away: connections are refused at
# once, so anything near this is a hang (a loaded CI machine still answers in well under it).
OUTAGE_ANSWER_S = 10.0


def _timed(call):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    r = call()
    return r, time.monotonic() - started


def test_a_search_during_the_outage_is_bounded_by_the_client_too(
    private_pg: PrivatePostgres, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Many searches at once while the database is down: each a 503 in bounded time, and the
    server answers normally as soon as it is back (no pool left holding dead connections)."""
    settings = make_settings(tmp_path / "data", database={"url": private_pg.url})
    with ThreadServer(settings) as srv, World(srv).client("carol") as carol:
        assert carol.post("/v1/search", json={"query": "warm up"}).status_code == 200
        private_pg.stop("immediate")
        try:
            with httpx.Client(base_url=srv.url, headers=carol.headers, timeout=30) as client:
                import concurrent.futures as cf

                def search(i: int) -> tuple[int, float]:
                    r, took = _timed(lambda: client.post("/v1/search", json={"query": f"问题 {i}"}))
                    return r.status_code, took

                with cf.ThreadPoolExecutor(8) as pool:
                    results = list(pool.map(search, range(16)))
        finally:
            private_pg.start()
        assert {status for status, _ in results} == {503}, results
        assert max(took for _, took in results) < OUTAGE_ANSWER_S, results
        assert carol.post("/v1/search", json={"query": "back again"}).status_code == 200
