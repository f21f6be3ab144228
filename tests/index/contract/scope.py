"""Scopes: no read (count, search, a document's chunks) ever leaves the tenant and its tokens."""

from __future__ import annotations

import uuid
from collections import Counter, deque

from hypothesis import given, settings
from hypothesis import strategies as st

from core.access import Principal
from index.store import Scope, SearchRequest, VectorStore
from index.types import ACCESS, DOC_ID, TENANT, ChunkPoint, SparseVector
from tests.index.contract.common import (
    DIM,
    HYPOTHESIS,
    everything,
    ids,
    permission_examples,
    point,
)

# Points of earlier examples kept in the store while an example runs (see below).
EARLIER_POINTS = 300
_TOKENS = ["everyone", "user:ann", "user:bob", "group:eng", "group:ops"]
_chunks = st.lists(
    st.tuples(
        st.sampled_from(["t1", "t2", "t3"]),
        st.sampled_from(["d1", "d2", "d3"]),
        st.lists(st.sampled_from(_TOKENS), unique=True, max_size=3),
    ),
    min_size=1,
    max_size=15,
)
_principals = st.builds(
    Principal,
    tenant_id=st.sampled_from(["t1", "t2", "t3"]),
    user_id=st.sampled_from(["ann", "bob", "cy"]),
    group_ids=st.frozensets(st.sampled_from(["eng", "ops", "hr"]), max_size=2),
)


class ScopeContract:
    @settings(HYPOTHESIS, max_examples=permission_examples(20))
    @given(data=st.data())
    def test_no_read_ever_leaves_the_scope(self, store: VectorStore, data: st.DataObject) -> None:
        store.ensure_collection(DIM)
        # Every example writes to tenants of its own, into a store that keeps every earlier
        # example's points: those must never show up, so what may show up is this example's
        # readable points alone (and the expectation stays cheap at 10,000 examples).
        run = uuid.uuid4().hex[:6]
        written = [
            point(f"{run}{t}", d, i, access=acl, sparse=SparseVector([i % 3, 5], [1.0, 2.0]))
            for i, (t, d, acl) in enumerate(data.draw(_chunks))
        ]
        store.upsert(written)
        self._keep_earlier_bounded(store, written)
        mirror: dict[str, ChunkPoint] = {p.id: p for p in written}
        for who in data.draw(st.lists(_principals, min_size=1, max_size=3)):
            principal = Principal(f"{run}{who.tenant_id}", who.user_id, who.group_ids)
            tenant = principal.tenant_id
            in_scope = {
                Scope.for_principal(principal): {
                    i
                    for i, p in mirror.items()
                    if principal.can_read(p.payload[TENANT], p.payload[ACCESS])
                },
                Scope.admin(tenant): {i for i, p in mirror.items() if p.payload[TENANT] == tenant},
            }
            for scope, can in in_scope.items():
                assert store.count(scope) == len(can)
                assert everything(store, scope) == can
                for doc in ("d1", "d2", "d3"):
                    in_doc = {i for i in can if mirror[i].payload[DOC_ID] == doc}
                    assert ids(store.document_chunks(scope, doc)) == in_doc
                hybrid = SearchRequest(dense=[1.0] * DIM, sparse=SparseVector([0, 1, 5], [1.0] * 3))
                for request in (hybrid, SearchRequest(sparse=hybrid.sparse, limit=50)):
                    assert ids(store.search(request, scope)) <= can

    def _keep_earlier_bounded(self, store: VectorStore, written: list[ChunkPoint]) -> None:
        """Earlier examples' documents stay as bystanders, the oldest deleted past
        ``EARLIER_POINTS``: at 10,000 examples an ever-growing store would make each read
        of the pure-Python stand-in for the server scan hundreds of thousands of points."""
        earlier: deque[tuple[str, str, int]] = self.__dict__.setdefault("_earlier", deque())
        per_doc = Counter((p.payload[TENANT], p.payload[DOC_ID]) for p in written)
        earlier.extend((tenant, doc, n) for (tenant, doc), n in per_doc.items())
        total = sum(n for *_, n in earlier)
        while total > EARLIER_POINTS + len(written):
            tenant, doc, n = earlier.popleft()
            store.delete_document(tenant, doc)
            total -= n
