"""Query strings held to the rule of bodies, on every ``/v1`` route.

FastAPI reads the query parameters a route declares and ignores the rest, and of a
parameter that takes one value and is sent twice it keeps the last. So a misspelt filter
(``/v1/documents?tags=hr``, for ``tag``) listed every document, as if unfiltered, and
``?limit=1&limit=500`` was read as 500, while a body's misspelt field is refused (422) and a
form field sent twice is too (400, ``api.multipart_form``). :func:`declared_query_only`, a
dependency of every route, refuses both (400, naming the parameter, in the caller's language,
through ``api.errors``) before the route's own validation. A parameter that takes a list
(``?id=a&id=b``) is sent once per value, as before. The portal's pages read their own query
strings in the browser and are left alone, and so are the OpenAI-compatible routes, whose
clients send parameters of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import field_annotation_is_sequence
from fastapi.routing import APIRoute

from api.routes.openai_errors import OPENAI_PATHS

# By the route's function: the same in every app built (routes themselves are unhashable).
_DECLARED: dict[Callable[..., Any], dict[str, bool]] = {}


def _declared(route: APIRoute) -> dict[str, bool]:
    """The route's query parameters by the name a client sends: whether each takes a list."""
    declared = _DECLARED.get(route.endpoint)
    if declared is None:
        declared = _DECLARED[route.endpoint] = {
            field.alias: field_annotation_is_sequence(field.field_info.annotation)
            for field in _query_fields(route.dependant)
        }
    return declared


def _query_fields(dependant: Dependant) -> list[Any]:
    """The query parameters of ``dependant`` and of every dependency it has."""
    fields = list(dependant.query_params)
    for dependency in dependant.dependencies:
        fields.extend(_query_fields(dependency))
    return fields


async def declared_query_only(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.path.startswith("/v1/"):
        return
    if route.path in OPENAI_PATHS:
        # OpenAI clients add parameters of their own (Azure's ``api-version``); OpenAI's API
        # answers them, so the compatible routes read what they know and leave the rest.
        return
    sent = Counter(name for name, _ in request.query_params.multi_items())
    if not sent:
        return
    declared = _declared(route)
    for name, count in sent.items():
        if name not in declared:
            if not declared:
                raise HTTPException(
                    400, f"query parameter {name!r} is not read here: this route reads none"
                )
            known = ", ".join(sorted(declared))
            raise HTTPException(400, f"query parameter {name!r} is not read here; send {known}")
        if count > 1 and not declared[name]:
            raise HTTPException(400, f"query parameter {name!r} is sent more than once")
