"""/v1/me: the caller, and their own API keys (list, create, revoke, rotate).

Any user may manage their own keys, so a leaked key is killed by its owner at once. Another
user's key id is not found here, whoever asks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from api.deps import CurrentPrincipal, Identity
from services.schemas.admin import (
    KeyCreate,
    KeyIssued,
    KeyRotate,
    KeysPublic,
    MePublic,
)
from services.schemas.bounds import ID_PATTERN, MAX_ID_CHARS

router = APIRouter(prefix="/v1/me", tags=["me"])

KeyId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
# Rotating takes an optional body: no body, no grace period.
OptionalRotate = Annotated[KeyRotate | None, Body()]
# The response carries a key's only copy: no cache may keep it.
NO_STORE = {"Cache-Control": "no-store"}


@router.get("", response_model=MePublic, operation_id="me-get")
def who_am_i(service: Identity, principal: CurrentPrincipal) -> MePublic:
    return service.me(principal)


@router.get("/keys", response_model=KeysPublic, operation_id="me-keys-list")
def list_keys(service: Identity, principal: CurrentPrincipal) -> KeysPublic:
    return service.list_keys(principal)


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyIssued,
    operation_id="me-keys-create",
)
def create_key(
    service: Identity, principal: CurrentPrincipal, body: KeyCreate, response: Response
) -> KeyIssued:
    response.headers.update(NO_STORE)
    return service.create_key(principal, body)


@router.delete(
    "/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="me-keys-revoke"
)
def revoke_key(service: Identity, principal: CurrentPrincipal, key_id: KeyId) -> Response:
    service.revoke_key(principal, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/keys/{key_id}/rotate", response_model=KeyIssued, operation_id="me-keys-rotate")
def rotate_key(
    service: Identity,
    principal: CurrentPrincipal,
    key_id: KeyId,
    response: Response,
    body: OptionalRotate = None,
) -> KeyIssued:
    response.headers.update(NO_STORE)
    return service.rotate_key(principal, key_id, body or KeyRotate())
