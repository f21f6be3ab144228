"""PostgreSQL restarted mid-ingestion (``pg_ctl stop -m immediate``) under the embedded
default: ingestion rides the outage out and every document ends ready exactly once, each chunk
in the store exactly once, with no restart of Zhiku.

This once left documents ``processing`` for good, claimed again and again by the two embed
loops: claims were refreshed only between two slices in the model, so once heartbeats had
stopped during the outage the sweeper gave every live run's document to a second run, the two
ran side by side on the same cores, each slice then outlasted ``stale_after_s``, and they kept
taking the documents from each other. Claims are now refreshed by a heartbeat thread, and a
run that lost its claim stops at the next beat (``workers.runs``).
"""

from __future__ import annotations

import time

import pytest

from tests.api.test_upstream_errors import assert_plain_503
from tests.api.world import World, upload
from tests.faults.checks import assert_ready_exactly_once, wait_mid_ingestion, wait_until_settled
from tests.faults.services import PrivatePostgres
from tests.faults.test_broker_restart import WORKER, _notes
from tests.faults.test_database_restart import OUTAGE_ANSWER_S, _timed
from tests.files import long_text
from tests.live import ThreadServer
from tests.support import make_settings

pytestmark = pytest.mark.slow  # a private PostgreSQL cluster, stopped and started


def test_postgres_restart_mid_ingestion(private_pg: PrivatePostgres, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "data", database={"url": private_pg.url}, worker=WORKER)
    with ThreadServer(settings) as srv, World(srv).client("bob") as bob:
        sessions = srv.container.sessions
        files = [("handbook.txt", long_text(120, seed=5).encode()), *_notes(10, "pg")]
        r = upload(bob, files)
        assert r.status_code == 202, r.text
        ids = [d["id"] for d in r.json()["data"]]
        states = wait_mid_ingestion(bob, ids)
        assert states[ids[0]] != "ready", "all done before the fault"

        private_pg.stop("immediate")
        try:
            for query in ("泵站什么时候检修？", "When are the valves replaced?"):
                r, took = _timed(lambda q=query: bob.post("/v1/search", json={"query": q}))
                assert took < OUTAGE_ANSWER_S, took
                assert_plain_503(r, "database", private_pg.port)
                assert r.headers["Retry-After"] == "30"
            r, took = _timed(lambda: bob.get(f"/v1/documents/{ids[0]}"))
            assert took < OUTAGE_ANSWER_S and r.status_code == 503, (took, r.text)
            time.sleep(2.0)  # ingestion keeps failing against the dead database meanwhile
        finally:
            private_pg.start()

        wait_until_settled(sessions, ids, 180, lambda: None)
        assert_ready_exactly_once(sessions, srv.container.store, ids)
        # Search is back without a restart, and finds what was ingested across the outage.
        r = bob.post("/v1/search", json={"query": "泵站什么时候检修？"})
        assert r.status_code == 200, r.text
        found = {hit["document_id"] for hit in r.json()["results"]}
        assert found & set(ids), r.json()
