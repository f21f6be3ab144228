"""The admin console (``/admin``): users, groups, keys, the organisation, the audit trail.

Each section is a server-rendered frame; ``static/js/admin.js`` fills it by calling the same
JSON API integrators use (``/v1/admin/...``, ``/v1/audit/...``), so every action on the page
is an HTTP call anyone with an admin's key can make too. Only administrators open these
pages (``signed_in_page(..., admin_only=True)``: 403 for anyone else); the API decides what
each of them may read (answer records in full for auditors only).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.web.pages import signed_in_page

router = APIRouter(include_in_schema=False)

# Section path -> its template and the key of its title (the order of the console's tabs).
SECTIONS: dict[str, str] = {
    "users": "admin_users",
    "groups": "admin_groups",
    "keys": "admin_keys",
    "audit": "admin_audit",
    "organisation": "admin_organisation",
}


async def _section(request: Request, section: str) -> Response:
    return await signed_in_page(
        request,
        f"admin/{section}.html",
        admin_only=True,
        section=section,
        sections=SECTIONS,
    )


@router.get("/admin")
async def users_page(request: Request) -> Response:
    return await _section(request, "users")


@router.get("/admin/groups")
async def groups_page(request: Request) -> Response:
    return await _section(request, "groups")


@router.get("/admin/keys")
async def keys_page(request: Request) -> Response:
    return await _section(request, "keys")


@router.get("/admin/audit")
async def audit_page(request: Request) -> Response:
    return await _section(request, "audit")


@router.get("/admin/organisation")
async def organisation_page(request: Request) -> Response:
    return await _section(request, "organisation")
