"""A body that is not what its route reads gets a 4xx that says what to send, in the caller's
language, over real HTTP: a multipart header the parser refuses (it was a 500, raised by the
guard before any route), a JSON route sent a form or text, an upload route sent JSON, and the
multipart parser's own refusals."""

from __future__ import annotations

import httpx
import pytest

from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
DOC = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("body-shapes"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def ann(server: ThreadServer) -> httpx.Client:
    with World(server).client("ann") as client:
        yield client


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("path", ["/v1/documents", f"/v1/documents/{DOC}/versions"])
@pytest.mark.parametrize("length", [257, 5000])
def test_a_boundary_the_parser_refuses_is_400_not_500(
    ann: httpx.Client, path: str, length: int
) -> None:
    boundary = "B" * length
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    )
    for headers in ({}, ZH):
        r = ann.post(
            path,
            content=body.encode(),
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 400, (r.status_code, r.text[:300])
    # The connection and the server are fine afterwards.
    assert ann.get("/v1/documents").status_code == 200
