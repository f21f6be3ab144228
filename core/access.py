"""Principals and the one encoder of access tokens.

Every chunk carries ``tenant_id`` and a list of access tokens; every read is filtered by the
caller's tenant AND (any of the caller's tokens). The same functions build both sides, so a
writer and a reader can never disagree about spelling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Granted to every member of the tenant. Scoped by the tenant filter, never global.
EVERYONE = "everyone"


def user_token(user_id: str) -> str:
    return f"user:{user_id}"


def group_token(group_id: str) -> str:
    return f"group:{group_id}"


@dataclass(frozen=True)
class AccessList:
    """Who may read a document, as stored on the document row and on every chunk."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    everyone: bool = False

    def tokens(self) -> list[str]:
        out = [EVERYONE] if self.everyone else []
        out += sorted(user_token(u) for u in self.users)
        out += sorted(group_token(g) for g in self.groups)
        return out

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> AccessList:
        users, groups, everyone = set(), set(), False
        for token in tokens:
            if token == EVERYONE:
                everyone = True
            elif token.startswith("user:"):
                users.add(token.removeprefix("user:"))
            elif token.startswith("group:"):
                groups.add(token.removeprefix("group:"))
            else:
                raise ValueError(f"unknown access token {token!r}")
        return cls(frozenset(users), frozenset(groups), everyone)

    def is_empty(self) -> bool:
        return not (self.users or self.groups or self.everyone)


@dataclass(frozen=True)
class Principal:
    """The caller of a request: who they are and what they belong to."""

    tenant_id: str
    user_id: str
    group_ids: frozenset[str] = frozenset()
    is_admin: bool = False
    # Reads the whole audit trail of the tenant (questions and answers included).
    is_auditor: bool = False
    # The API key this request authenticated with; None for a caller without one. Not part
    # of equality: the key a request came through does not change who the caller is.
    key_id: str | None = field(default=None, compare=False)
    # What that key may do: "full" (all the user may), "chat" or "upload" (docs/widget.md).
    # A caller without a key (a browser session) is "full". Not part of equality either.
    key_scope: str = field(default="full", compare=False)
    # The browser origins the key may be used from (``scheme://host[:port]``); empty: any.
    key_origins: tuple[str, ...] = field(default=(), compare=False)

    def access_tokens(self) -> frozenset[str]:
        """Tokens that admit this caller. Never empty: a caller at least matches itself."""
        tokens = {EVERYONE, user_token(self.user_id)}
        tokens.update(group_token(g) for g in self.group_ids)
        return frozenset(tokens)

    def can_read(self, tenant_id: str, acl_tokens: Iterable[str]) -> bool:
        return tenant_id == self.tenant_id and not self.access_tokens().isdisjoint(acl_tokens)
