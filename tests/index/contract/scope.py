"""Scopes: no read (count, search, a document's chunks) ever leaves the tenant and its tokens."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from core.access import Principal
from index.store import Scope, SearchRequest, VectorStore
from index.types import ACCESS, DOC_ID, TENANT, ChunkPoint, SparseVector
from tests.index.contract.common import DIM, HYPOTHESIS, everything, ids, point

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
    @HYPOTHESIS
    @given(data=st.data())
    def test_no_read_ever_leaves_the_scope(self, store: VectorStore, data: st.DataObject) -> None:
        store.ensure_collection(DIM)
        mirror: dict[str, ChunkPoint] = getattr(self, "_mirror", {})
        self._mirror = mirror
        run = uuid.uuid4().hex[:6]  # this example's tenants
        written = [
            point(f"{run}{t}", d, i, access=acl, sparse=SparseVector([i % 3, 5], [1.0, 2.0]))
            for i, (t, d, acl) in enumerate(data.draw(_chunks))
        ]
        store.upsert(written)
        mirror |= {p.id: p for p in written}
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
