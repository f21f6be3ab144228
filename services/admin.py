"""What a tenant's admins manage: users, roles, groups and API keys (docs/security.md).

Everything is scoped to the admin's tenant: another tenant's user, group or key is not
found. Every change is an audit event (recorded by ``core.db.identity``), so an admin's
actions are visible to the tenant's auditors. Three limits keep an admin from reaching
what the model reserves for auditors:

- the auditor role is granted and withdrawn by the operator (``zhiku admin set-roles``),
  never over HTTP, so no admin can make themselves or an accomplice an auditor;
- an admin issues and rotates keys for members only, not for other admins or for auditors
  (who make their own at ``/v1/me/keys``): a key made for an auditor would read as one;
- an admin cannot disable themselves nor drop their own admin role, so a tenant is never
  left without the admin who was managing it by mistake;
- an admin resets the passwords of members only, for the reason keys follow: resetting an
  auditor's password would let the admin sign in as one. Admins and auditors change their
  own (``/v1/me/password``) or ask the operator (``zhiku admin set-password``).

A key an admin issues for a member does act as that member: onboarding needs it, and the
event says so (``on_behalf``), and the member sees the key in their own list.
"""

from __future__ import annotations

from core.access import Principal
from core.db import groups as group_queries
from core.db import identity, web_sessions
from core.db import keys as key_queries
from core.db.models import User, utcnow
from core.db.session import SessionFactory, transaction
from core.errors import Conflict, PermissionDenied
from services import passwords, tenant_settings
from services.identity import grace, issue_key, issued_public, keys_public
from services.schemas.admin import (
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


def user_public(user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        name=user.name,
        email=user.email,
        is_admin=user.is_admin,
        is_auditor=user.is_auditor,
        disabled=user.disabled_at is not None,
        disabled_at=user.disabled_at,
        group_ids=sorted(g.id for g in user.groups),
        created_at=user.created_at,
    )


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("only a tenant admin may do this")


def _may_hold_keys_made_by_admin(user: User) -> None:
    if user.is_admin or user.is_auditor:
        raise PermissionDenied(
            "keys of admins and auditors are made by their owners (/v1/me/keys) or by the"
            " operator (zhiku admin create-key)"
        )


class AdminService:
    def __init__(self, sessions: SessionFactory, pepper: str) -> None:
        self._sessions = sessions
        self._pepper = pepper

    # --- users

    def list_users(
        self, principal: Principal, offset: int, limit: int, name: str | None = None
    ) -> UsersPublic:
        """A page of the tenant's users; ``name``: those whose name holds it (any case)."""
        require_admin(principal)
        with transaction(self._sessions) as session:
            rows, total = identity.list_users(
                session, principal.tenant_id, offset=offset, limit=limit, name_contains=name
            )
            data = [user_public(u) for u in rows]
        return UsersPublic(data=data, count=total, offset=offset, limit=limit)

    def get_user(self, principal: Principal, user_id: str) -> UserPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            return user_public(identity.get_user(session, principal.tenant_id, user_id))

    def create_user(self, principal: Principal, spec: UserCreate) -> UserPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            user = identity.create_user(
                session,
                principal.tenant_id,
                spec.name,
                email=spec.email,
                is_admin=spec.is_admin,
                actor_id=principal.user_id,
            )
            return user_public(user)

    def set_disabled(self, principal: Principal, user_id: str, disabled: bool) -> UserPublic:
        require_admin(principal)
        if disabled and user_id == principal.user_id:
            raise Conflict("an admin cannot disable themselves")
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, user_id)
            identity.set_disabled(session, user, disabled, actor_id=principal.user_id)
            return user_public(user)

    def set_roles(self, principal: Principal, user_id: str, roles: RolesUpdate) -> UserPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, user_id)
            if roles.is_auditor != user.is_auditor:
                raise PermissionDenied(
                    "the auditor role is granted by the operator: zhiku admin set-roles"
                )
            if user_id == principal.user_id and not roles.is_admin:
                raise Conflict("an admin cannot drop their own admin role")
            identity.set_roles(
                session,
                user,
                is_admin=roles.is_admin,
                is_auditor=roles.is_auditor,
                actor_id=principal.user_id,
            )
            return user_public(user)

    def set_email(self, principal: Principal, user_id: str, email: str | None) -> UserPublic:
        """Set or remove a user's e-mail (Conflict when another user of the tenant has it)."""
        require_admin(principal)
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, user_id)
            identity.set_email(session, user, email, actor_id=principal.user_id)
            return user_public(user)

    def reset_password(
        self, principal: Principal, user_id: str, spec: PasswordReset
    ) -> PasswordIssued:
        """A member's new password (as given, or generated and returned once): it must meet
        the policy (``services.passwords``); every browser session of the user ends, and the
        change is a ``user.password`` event with the admin as actor."""
        require_admin(principal)
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, user_id)
            if user.is_admin or user.is_auditor:
                raise PermissionDenied(
                    "passwords of admins and auditors are changed by their owners"
                    " (/v1/me/password) or by the operator (zhiku admin set-password)"
                )
            generated = spec.password is None
            text = passwords.check_policy(
                passwords.generate_password() if spec.password is None else spec.password,
                user.name,
            )
            now = utcnow()
            web_sessions.set_password_hash(
                session, user, passwords.hash_password(text), now=now, actor_id=principal.user_id
            )
            ended = web_sessions.revoke_user_sessions(session, user.id, now=now)
        return PasswordIssued(
            user_id=user_id,
            generated=generated,
            password=text if generated else None,
            sessions_ended=ended,
        )

    # --- the tenant

    def tenant(self, principal: Principal) -> TenantPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            tenant, users, groups, documents = identity.tenant_counts(session, principal.tenant_id)
            return TenantPublic(
                id=tenant.id,
                name=tenant.name,
                created_at=tenant.created_at,
                users=users,
                groups=groups,
                documents=documents,
            )

    def tenant_settings(self, principal: Principal) -> tenant_settings.TenantSettingsPublic:
        require_admin(principal)
        return tenant_settings.read(self._sessions, principal.tenant_id)

    def update_tenant_settings(
        self, principal: Principal, change: tenant_settings.TenantSettingsUpdate
    ) -> tenant_settings.TenantSettingsPublic:
        require_admin(principal)
        return tenant_settings.update(
            self._sessions, principal.tenant_id, principal.user_id, change
        )

    def settings_in_force(self, tenant_id: str) -> tenant_settings.TenantSettingsPublic:
        """What every member's pages and uploads follow (no admin needed to be read)."""
        return tenant_settings.read(self._sessions, tenant_id)

    # --- groups

    def list_groups(
        self, principal: Principal, offset: int, limit: int, name_contains: str | None = None
    ) -> GroupsPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            rows, total = group_queries.list_groups(
                session,
                principal.tenant_id,
                offset=offset,
                limit=limit,
                name_contains=name_contains,
            )
            data = [
                GroupPublic(id=g.id, name=g.name, member_count=n, created_at=g.created_at)
                for g, n in rows
            ]
        return GroupsPublic(data=data, count=total, offset=offset, limit=limit)

    def create_group(self, principal: Principal, spec: GroupCreate) -> GroupPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            group = group_queries.create_group(
                session, principal.tenant_id, spec.name, actor_id=principal.user_id
            )
            return GroupPublic(
                id=group.id, name=group.name, member_count=0, created_at=group.created_at
            )

    def delete_group(self, principal: Principal, group_id: str) -> None:
        """Delete a group and its memberships (Conflict while an access list names it)."""
        require_admin(principal)
        with transaction(self._sessions) as session:
            group = group_queries.get_group(session, principal.tenant_id, group_id)
            group_queries.delete_group(session, group, actor_id=principal.user_id)

    def group_members(
        self, principal: Principal, group_id: str, offset: int, limit: int
    ) -> UsersPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            group = group_queries.get_group(session, principal.tenant_id, group_id)
            rows, total = group_queries.group_members(session, group, offset=offset, limit=limit)
            data = [user_public(u) for u in rows]
        return UsersPublic(data=data, count=total, offset=offset, limit=limit)

    def set_membership(
        self, principal: Principal, group_id: str, user_id: str, member: bool
    ) -> None:
        """Add ``user_id`` to the group (``member``) or take them out of it."""
        require_admin(principal)
        with transaction(self._sessions) as session:
            group = group_queries.get_group(session, principal.tenant_id, group_id)
            user = identity.get_user(session, principal.tenant_id, user_id)
            change = group_queries.add_member if member else group_queries.remove_member
            change(session, user, group, actor_id=principal.user_id)

    # --- keys

    def list_keys(self, principal: Principal, user_id: str) -> KeysPublic:
        require_admin(principal)
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, user_id)
            return keys_public(key_queries.list_keys(session, principal.tenant_id, user.id))

    def create_key(self, principal: Principal, user_id: str, spec: KeyCreate) -> KeyIssued:
        require_admin(principal)
        with transaction(self._sessions) as session:
            user = identity.get_user(session, principal.tenant_id, user_id)
            if user.id != principal.user_id:
                _may_hold_keys_made_by_admin(user)
            return issue_key(session, user, self._pepper, spec, principal)

    def revoke_key(self, principal: Principal, key_id: str) -> None:
        """Any key of the tenant: revoking never gives anyone more access."""
        require_admin(principal)
        with transaction(self._sessions) as session:
            row = key_queries.key_to_change(session, principal.tenant_id, key_id)
            key_queries.revoke_key(session, row, actor_id=principal.user_id)

    def rotate_key(self, principal: Principal, key_id: str, spec: KeyRotate) -> KeyIssued:
        require_admin(principal)
        with transaction(self._sessions) as session:
            row = key_queries.key_to_change(session, principal.tenant_id, key_id)
            user = identity.get_user(session, principal.tenant_id, row.user_id)
            if user.id != principal.user_id:
                _may_hold_keys_made_by_admin(user)
            issued = key_queries.rotate_key(
                session, row, user, self._pepper, grace=grace(spec), actor_id=principal.user_id
            )
        return issued_public(issued)
