"""What a reader sees of a document they may not read (now), over real HTTP: a conversation's
citations once the document's access is withdrawn, and an admin's reads of the text of a
document whose access list does not name them."""

from __future__ import annotations

import json

from index.types import chunk_id
from tests.api.hostile import (
    ZH,
    has_chinese,
)
from tests.api.world import World, wait_terminal
from tests.live import ThreadServer

# --- a conversation's citations after the document's access is withdrawn


def test_a_history_names_only_documents_the_caller_may_still_read(
    hostile_server: ThreadServer, hostile_world: World
) -> None:
    """carol was answered from a document ann shared with her; ann withdrew it. Her history
    kept the citation (the document's id, title and file name) though every other read of
    it answers 404; it now cites only what she may read, and again once it is shared back."""
    services = hostile_server.container.services
    with hostile_world.client("ann") as ann, hostile_world.client("carol") as carol:
        shared = {"users": [hostile_world.ids["carol"]]}
        r = ann.post(
            "/v1/documents",
            files={"files": ("并购计划.txt", "机密：与某公司的并购计划。".encode())},
            data={"access": json.dumps(shared)},
        )
        assert r.status_code == 202, r.text[:300]
        doc_id = r.json()["data"][0]["id"]
        # The turn as /v1/chat saves it (an answer model would have cited the document).
        principal = services.identity.authenticate(hostile_world.keys["carol"])
        conversation_id, _ = services.conversations.open(principal, None, "并购计划是什么？")
        citation = {
            "number": 1,
            "document_id": doc_id,
            "version": 1,
            "title": "并购计划",
            "filename": "并购计划.txt",
            "page": None,
            "page_end": None,
            "section": [],
            "chunk_ids": [],
            "positions": [],
        }
        services.conversations.save_turn(
            principal, conversation_id, "并购计划是什么？", "与某公司并购 [1]。", [citation], "a1"
        )

        def cited() -> list[str]:
            r = carol.get(f"/v1/conversations/{conversation_id}")
            assert r.status_code == 200, r.text[:300]
            return [c["document_id"] for m in r.json()["messages"] for c in m["citations"]]

        assert cited() == [doc_id]
        r = ann.patch(f"/v1/documents/{doc_id}/access", json={"users": [hostile_world.ids["ann"]]})
        assert r.status_code in (200, 202), r.text[:300]
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 404
        assert cited() == []
        assert "并购计划.txt" not in carol.get(f"/v1/conversations/{conversation_id}").text
        assert ann.patch(f"/v1/documents/{doc_id}/access", json=shared).status_code in (200, 202)
        assert cited() == [doc_id]


# --- an admin and the text of a document not shared with them


def test_an_admin_reads_text_only_where_the_access_list_names_them(hostile_world: World) -> None:
    """docs/security.md: "No role can search a document, or read its text, unless its access
    list admits them: not admins". Search held to it; the cited passage and the original file
    did not: an admin (who sees every document's metadata) downloaded any of them, unrecorded."""
    text = "薪酬方案：明年调薪百分之八。Salary plan: eight percent next year."
    with (
        hostile_world.client("bob") as bob,
        hostile_world.client("ann") as ann,
        hostile_world.client("carol") as carol,
    ):
        r = bob.post("/v1/documents", files={"files": ("薪酬.txt", text.encode())})
        assert r.status_code == 202, r.text[:300]
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(bob, doc_id)["status"] == "ready"
        chunk = chunk_id(hostile_world.tenant_a.id, doc_id, 1, 0)
        reads = (f"/v1/documents/{doc_id}/passages/{chunk}", f"/v1/documents/{doc_id}/file")
        for path in reads:
            assert bob.get(path).status_code == 200, path  # the owner
            assert carol.get(path).status_code == 404, path  # a member: as if absent
            for headers in ({}, ZH):
                r = ann.get(path, headers=headers)
                assert r.status_code == 403, (path, r.text[:300])
                said = r.json()["detail"]
                assert has_chinese(said) if headers else "access list" in said, said
                assert "薪酬" not in r.text and "Salary" not in r.text
        assert ann.get(f"/v1/documents/{doc_id}").status_code == 200  # metadata, as before
        # Added to the list (an override, recorded), the admin reads it like anyone on it.
        r = ann.patch(
            f"/v1/documents/{doc_id}/access",
            json={"users": [hostile_world.ids["bob"], hostile_world.ids["ann"]]},
        )
        assert r.status_code in (200, 202), r.text[:300]
        assert ann.get(reads[1]).content == text.encode()
        assert "薪酬方案" in ann.get(reads[0]).json()["text"]
