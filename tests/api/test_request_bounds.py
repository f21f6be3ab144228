"""Every value a client can send is bounded and clean by construction: the app's routes are
enumerated (each body's model, field by field and into nested models and lists, and each
path, query and form parameter) and every text must refuse a NUL, another control character,
a lone surrogate and a megabyte; every list and every integer must be bounded; and every body
of our own refuses a field it does not know.

A field added without its bounds fails here, naming its route and field, instead of waiting
for a reviewer's probe. The OpenAI-compatible request's texts were such a class: its
messages' content reached the audit record unchecked, so a NUL (PostgreSQL refuses it) failed
the record after the answer had been generated, and mid-stream once it had been sent.

The few exceptions are listed in ``CHECKED_ELSEWHERE`` with where they are checked; the
tests named there prove it over HTTP.
"""

from __future__ import annotations

import tempfile
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import UploadFile
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import AwareDatetime, BaseModel, Discriminator, Tag, TypeAdapter, ValidationError

from tests.support import make_settings
from zhiku.app import create_app

DIRTY = ("a\x00b", "a\x1bb", "a\x7fb", "\ud800", "\udfff\u5411")
HUGE = 1_000_000

# "route field" -> where it is checked instead (a test proves each over HTTP).
CHECKED_ELSEWHERE = {
    # Parsed only for ChatCompletionRequest.unsupported() to refuse them (400), never stored.
    "POST /v1/chat/completions body.tools[]": "refused by unsupported() when not empty",
    "POST /v1/chat/completions body.functions[]": "refused by unsupported() when not empty",
    "POST /v1/chat/completions body.tool_choice": "refused by unsupported() unless 'none'",
    "POST /v1/chat/completions body.function_call": "refused by unsupported() unless 'none'",
    "POST /v1/chat/completions body.audio": "refused by unsupported() when present",
    # Hashed, never stored or shown: services.passwords.check_policy refuses control
    # characters in a new one (400); a sign-in with one is a wrong password (401).
    "POST /v1/auth/login body.password": "services.passwords (tests/api/test_sign_in.py)",
    "POST /v1/me/password body.current_password": "services.passwords",
    "POST /v1/me/password body.new_password": "services.passwords.check_policy",
    "POST /v1/admin/users/{user_id}/password body.password": "services.passwords.check_policy",
    # The upload's form: files counted by RequestGuard's multipart watch before the route;
    # the access list parsed into AccessSpec (ids are Identifiers) and the tags checked by
    # the route (tests/api/test_bad_input.py).
    "POST /v1/documents body.files": "api.multipart_watch: at most max_files_per_upload",
    "POST /v1/documents body.access": "api.routes.documents._parse_access",
    "POST /v1/documents body.tags": "api.routes.documents._parse_tags",
    # Query texts the route checks with reject_control_characters (400).
    "GET /v1/documents query.q": "api.routes.documents.list_documents",
    "GET /v1/documents query.tag": "api.routes.documents.list_documents",
    "GET /v1/directory query.q": "api.routes.documents.search_directory",
}


# OpenAI's wire format: fields its clients send that change nothing here are ignored.
OPENAI_WIRE = {
    "ChatCompletionRequest",
    "OpenAIMessage",
    "ContentPart",
    "StreamOptions",
    "ResponseFormat",
}


@dataclass(frozen=True)
class Leaf:
    where: str  # "METHOD /path part.field[]..."
    kind: str  # "text", "list", "integer", "number", "any", "unknown"
    adapter: TypeAdapter[Any] | None


def _adapter(tp: Any, metadata: list[Any]) -> TypeAdapter[Any]:
    """``tp`` with its constraints and validators; union tags and discriminators describe
    the union, not a value inside it."""
    kept = [m for m in metadata if not isinstance(m, (Tag, Discriminator))]
    return TypeAdapter(Annotated[tp, *kept] if kept else tp)


def _leaves(tp: Any, metadata: list[Any], where: str, seen: set[type]) -> Iterator[Leaf]:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *extra = typing.get_args(tp)
        yield from _leaves(base, [*metadata, *extra], where, seen)
    elif origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            if arm is not type(None):
                yield from _leaves(arm, metadata, where, seen)
    elif origin in (list, tuple, set, frozenset):
        yield Leaf(where, "list", _adapter(list[Any], metadata))
        for item in typing.get_args(tp):
            if item is not Ellipsis:
                yield from _leaves(item, [], where + "[]", seen)
    elif origin is dict:
        yield Leaf(where, "list", _adapter(dict[str, Any], metadata))
    elif origin is typing.Literal or tp in (bool, type(None)):
        return
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return
        for name, field in tp.model_fields.items():
            yield from _leaves(
                field.annotation, list(field.metadata), f"{where}.{name}", seen | {tp}
            )
    elif tp is str:
        yield Leaf(where, "text", _adapter(str, metadata))
    elif tp is int:
        yield Leaf(where, "integer", _adapter(int, metadata))
    elif tp is float:
        yield Leaf(where, "number", _adapter(float, metadata))
    elif tp is Any:
        yield Leaf(where, "any", None)
    elif isinstance(tp, type) and (issubclass(tp, Enum) or tp is UploadFile):
        return
    elif tp in (AwareDatetime, datetime, date):
        return  # parsed into a moment: no text to carry, and its range is the calendar's
    else:
        yield Leaf(where, "unknown", None)


def _refuses(adapter: TypeAdapter[Any], value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return True
    return False


def _problem(leaf: Leaf) -> str | None:
    adapter = leaf.adapter
    if leaf.kind == "text" and adapter is not None:
        if not _refuses(adapter, "x" * HUGE):
            return "text without a length bound"
        slipped = [value for value in DIRTY if not _refuses(adapter, value)]
        if slipped:
            return f"text that takes {slipped!r}"
    elif leaf.kind == "list" and adapter is not None:
        if not _refuses(adapter, [None] * HUGE if "dict" not in repr(adapter) else {}):
            return "list without a length bound"
    elif leaf.kind == "integer" and adapter is not None:
        if not (_refuses(adapter, 2**64) and _refuses(adapter, -(2**64))):
            return "integer without bounds"
    elif leaf.kind == "number" and adapter is not None:
        if not all(_refuses(adapter, v) for v in (float("inf"), float("-inf"), float("nan"))):
            return "number that takes infinity or NaN"
    elif leaf.kind in ("any", "unknown"):
        return f"a value of no known bounded type ({leaf.kind})"
    return None


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    """The route's own parameters and those of every dependency it pulls in."""
    yield dependant
    for inner in dependant.dependencies:
        yield from _dependants(inner)


def _route_leaves(route: APIRoute) -> Iterator[Leaf]:
    for method in sorted(route.methods):
        for dependant in _dependants(route.dependant):
            for part, params in (
                ("path", dependant.path_params),
                ("query", dependant.query_params),
                ("header", dependant.header_params),
                ("cookie", dependant.cookie_params),
                ("body", dependant.body_params),
            ):
                yield from _param_leaves(method, route.path, part, params)


def _param_leaves(method: str, path: str, part: str, params: list[Any]) -> Iterator[Leaf]:
    for param in params:
        info = param.field_info
        # A route's one body model is the body itself (FastAPI embeds only several).
        whole = part == "body" and len(params) == 1 and _model_of(info.annotation) is not None
        where = f"{method} {path} {part}" + ("" if whole else f".{param.alias or param.name}")
        yield from _leaves(info.annotation, list(info.metadata), where, set())


def _model_of(tp: Any) -> type[BaseModel] | None:
    arms = (
        typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    )
    models = [arm for arm in arms if isinstance(arm, type) and issubclass(arm, BaseModel)]
    return models[0] if models else None


@pytest.fixture(scope="module")
def routes() -> list[APIRoute]:
    app = create_app(make_settings(Path(tempfile.mkdtemp(prefix="zhiku-bounds-"))))
    # Included routers are kept whole (FastAPI 0.16x): their routes, flattened.
    found = [
        context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]
    assert len(found) > 50, "the walk must see the app's routes"
    return found


def _walk(routes: list[APIRoute]) -> list[Leaf]:
    return [leaf for route in routes for leaf in _route_leaves(route)]


def test_the_walk_reaches_nested_fields(routes: list[APIRoute]) -> None:
    wheres = {leaf.where for leaf in _walk(routes)}
    # A guard against a walk that silently stops at the top (a renamed model, a new FastAPI).
    assert "POST /v1/chat/completions body.messages[].content" in wheres
    assert "POST /v1/chat/completions body.messages[].content[].text" in wheres
    assert "POST /v1/search body.filters.document_ids[]" in wheres
    assert "GET /v1/documents query.offset" in wheres


def test_every_value_a_client_sends_is_bounded_and_clean(routes: list[APIRoute]) -> None:
    problems = []
    for leaf in _walk(routes):
        problem = _problem(leaf)
        if problem is not None and leaf.where not in CHECKED_ELSEWHERE:
            problems.append(f"{leaf.where}: {problem}")
    assert sorted(set(problems)) == []


def _models(tp: Any, seen: set[type[BaseModel]]) -> None:
    """Every model ``tp`` is made of, into ``seen``."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp not in seen:
            seen.add(tp)
            for field in tp.model_fields.values():
                _models(field.annotation, seen)
        return
    for arg in typing.get_args(tp):
        _models(arg, seen)


def test_every_body_refuses_a_field_it_does_not_know(routes: list[APIRoute]) -> None:
    """A misspelt field ("filter" for "filters", "user" for "users") is a 422 naming it:
    ignored, a search ran unfiltered and an access list lost its names. OpenAI's request is
    the exception: its clients send many fields that change nothing here (they are ignored,
    ``services.schemas.openai_chat``), and its ``filters`` extension is ours again."""
    models: set[type[BaseModel]] = set()
    for route in routes:
        for dependant in _dependants(route.dependant):
            for param in dependant.body_params:
                _models(param.field_info.annotation, models)
    lenient = {m.__name__ for m in models if m.model_config.get("extra") != "forbid"}
    assert lenient == OPENAI_WIRE, sorted(lenient - OPENAI_WIRE)
    assert "SearchFilters" in {m.__name__ for m in models}


def test_the_exceptions_are_still_there(routes: list[APIRoute]) -> None:
    """An exception whose field was renamed or bounded since is removed from the list."""
    wheres = {leaf.where for leaf in _walk(routes) if _problem(leaf) is not None}
    assert sorted(CHECKED_ELSEWHERE.keys() - wheres) == []
