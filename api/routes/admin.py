"""/v1/admin: a tenant admin manages its users, roles, groups, API keys and settings.

Every route needs an admin (declared once, on the router): a member is refused before any
lookup, so the answer says nothing about which ids exist. Another tenant's ids are not
found (404). Each change is an audit event (docs/security.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status

from api.deps import Admin, AdminPrincipal, require_admin
from services.schemas.admin import (
    MAX_SEARCH_CHARS,
    EmailUpdate,
    GroupCreate,
    GroupPublic,
    GroupsPublic,
    KeyCreate,
    KeyIssued,
    KeyRotate,
    KeysPublic,
    PasswordIssued,
    PasswordReset,
    RolesUpdate,
    TenantPublic,
    UserCreate,
    UserPublic,
    UsersPublic,
)
from services.schemas.bounds import ID_PATTERN, MAX_ID_CHARS, MAX_OFFSET
from services.tenant_settings import TenantSettingsPublic, TenantSettingsUpdate

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])

Id = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=200)]
# Rotating takes an optional body: no body, no grace period.
OptionalRotate = Annotated[KeyRotate | None, Body()]
# Resetting takes an optional body: no body, a generated password.
OptionalReset = Annotated[PasswordReset | None, Body()]
NameSearch = Annotated[
    str | None,
    Query(
        max_length=MAX_SEARCH_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only users whose name contains this text (ignoring case).",
    ),
]
GroupNameSearch = Annotated[
    str | None,
    Query(
        max_length=MAX_SEARCH_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only groups whose name contains this text (ignoring case).",
    ),
]
# The response carries a key's only copy: no cache may keep it.
NO_STORE = {"Cache-Control": "no-store"}


# --- users


@router.get("/users", response_model=UsersPublic, operation_id="admin-users-list")
def list_users(
    service: Admin,
    principal: AdminPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    q: NameSearch = None,
) -> UsersPublic:
    """The tenant's users by name, disabled ones included; ``q`` searches names."""
    return service.list_users(principal, offset, limit, (q or "").strip() or None)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    operation_id="admin-users-create",
)
def create_user(service: Admin, principal: AdminPrincipal, body: UserCreate) -> UserPublic:
    return service.create_user(principal, body)


@router.get("/users/{user_id}", response_model=UserPublic, operation_id="admin-users-get")
def get_user(service: Admin, principal: AdminPrincipal, user_id: Id) -> UserPublic:
    return service.get_user(principal, user_id)


@router.post(
    "/users/{user_id}/disable", response_model=UserPublic, operation_id="admin-users-disable"
)
def disable_user(service: Admin, principal: AdminPrincipal, user_id: Id) -> UserPublic:
    """Refuse the user's keys from their next request on; their documents stay."""
    return service.set_disabled(principal, user_id, True)


@router.post(
    "/users/{user_id}/enable", response_model=UserPublic, operation_id="admin-users-enable"
)
def enable_user(service: Admin, principal: AdminPrincipal, user_id: Id) -> UserPublic:
    return service.set_disabled(principal, user_id, False)


@router.put("/users/{user_id}/email", response_model=UserPublic, operation_id="admin-users-email")
def set_email(
    service: Admin, principal: AdminPrincipal, user_id: Id, body: EmailUpdate
) -> UserPublic:
    """Set or remove a user's e-mail, unique in the tenant whatever its case (409 when
    another user has it). Single sign-on maps people to users by it (docs/sso.md)."""
    return service.set_email(principal, user_id, body.email)


@router.put("/users/{user_id}/roles", response_model=UserPublic, operation_id="admin-users-roles")
def set_roles(
    service: Admin, principal: AdminPrincipal, user_id: Id, body: RolesUpdate
) -> UserPublic:
    """Grant or withdraw the admin role. The auditor role is the operator's to grant."""
    return service.set_roles(principal, user_id, body)


@router.post(
    "/users/{user_id}/password",
    response_model=PasswordIssued,
    operation_id="admin-users-password",
)
def reset_password(
    service: Admin,
    principal: AdminPrincipal,
    user_id: Id,
    response: Response,
    body: OptionalReset = None,
) -> PasswordIssued:
    """Set a member's web sign-in password: the one given (at least 12 characters, not the
    username: 400 otherwise) or, with no body or no ``password``, a random one returned this
    once. Every browser session of the user ends. Members only: an admin's or auditor's
    password is 403 (they change their own at ``/v1/me/password``)."""
    response.headers.update(NO_STORE)
    return service.reset_password(principal, user_id, body or PasswordReset())


# --- the tenant


@router.get("/tenant", response_model=TenantPublic, operation_id="admin-tenant-get")
def get_tenant(service: Admin, principal: AdminPrincipal) -> TenantPublic:
    """The admin's organisation: name, id, and its numbers of users, groups and documents."""
    return service.tenant(principal)


@router.get(
    "/tenant/settings",
    response_model=TenantSettingsPublic,
    operation_id="admin-tenant-settings-get",
)
def get_tenant_settings(service: Admin, principal: AdminPrincipal) -> TenantSettingsPublic:
    """The organisation's settings in force (defaults where none was chosen):
    ``display_name`` (the portal's header), ``default_access`` (who reads an upload that
    names no access list: ``owner`` or ``everyone``), ``default_language`` (the portal's
    language for members who have not picked one; null follows the browser) and
    ``pii_redaction`` (personal data masked at ``ingest``, in ``answers`` and everything
    served from the index, ``both``, or ``off``; null follows the deployment's default)."""
    return service.tenant_settings(principal)


@router.put(
    "/tenant/settings",
    response_model=TenantSettingsPublic,
    operation_id="admin-tenant-settings-update",
)
def update_tenant_settings(
    service: Admin, principal: AdminPrincipal, body: TenantSettingsUpdate
) -> TenantSettingsPublic:
    """Change the fields given (the others keep their values); ``display_name`` "",
    ``default_language`` or ``pii_redaction`` null go back to the default. Recorded in the
    audit trail as ``tenant.settings`` with each changed field before and after."""
    return service.update_tenant_settings(principal, body)


# --- groups


@router.get("/groups", response_model=GroupsPublic, operation_id="admin-groups-list")
def list_groups(
    service: Admin,
    principal: AdminPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    q: GroupNameSearch = None,
) -> GroupsPublic:
    """The tenant's groups by name; ``q`` searches names, as on ``/users``."""
    return service.list_groups(principal, offset, limit, (q or "").strip() or None)


@router.post(
    "/groups",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupPublic,
    operation_id="admin-groups-create",
)
def create_group(service: Admin, principal: AdminPrincipal, body: GroupCreate) -> GroupPublic:
    return service.create_group(principal, body)


@router.delete(
    "/groups/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="admin-groups-delete",
)
def delete_group(service: Admin, principal: AdminPrincipal, group_id: Id) -> Response:
    """Delete a group and its memberships: 409 while a document's access list names it
    (remove it there first, so no document silently leaves its members' reach)."""
    service.delete_group(principal, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/groups/{group_id}/members", response_model=UsersPublic, operation_id="admin-groups-members"
)
def group_members(
    service: Admin,
    principal: AdminPrincipal,
    group_id: Id,
    offset: Offset = 0,
    limit: Limit = 50,
) -> UsersPublic:
    return service.group_members(principal, group_id, offset, limit)


@router.put(
    "/groups/{group_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="admin-groups-add-member",
)
def add_member(service: Admin, principal: AdminPrincipal, group_id: Id, user_id: Id) -> Response:
    service.set_membership(principal, group_id, user_id, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/groups/{group_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="admin-groups-remove-member",
)
def remove_member(service: Admin, principal: AdminPrincipal, group_id: Id, user_id: Id) -> Response:
    """The group's documents are out of the user's reach from their next request on."""
    service.set_membership(principal, group_id, user_id, False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- keys


@router.get("/users/{user_id}/keys", response_model=KeysPublic, operation_id="admin-keys-list")
def list_keys(service: Admin, principal: AdminPrincipal, user_id: Id) -> KeysPublic:
    return service.list_keys(principal, user_id)


@router.post(
    "/users/{user_id}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyIssued,
    operation_id="admin-keys-create",
)
def create_key(
    service: Admin, principal: AdminPrincipal, user_id: Id, body: KeyCreate, response: Response
) -> KeyIssued:
    response.headers.update(NO_STORE)
    return service.create_key(principal, user_id, body)


@router.delete(
    "/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="admin-keys-revoke"
)
def revoke_key(service: Admin, principal: AdminPrincipal, key_id: Id) -> Response:
    service.revoke_key(principal, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/keys/{key_id}/rotate", response_model=KeyIssued, operation_id="admin-keys-rotate")
def rotate_key(
    service: Admin,
    principal: AdminPrincipal,
    key_id: Id,
    response: Response,
    body: OptionalRotate = None,
) -> KeyIssued:
    response.headers.update(NO_STORE)
    return service.rotate_key(principal, key_id, body or KeyRotate())
