"""SQLAlchemy 2 models. Ids are UUID strings so they travel unchanged into vector payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.db.utc import UtcDateTime


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        # One user per e-mail within a tenant, whatever its case (single sign-on maps by it).
        Index("ux_users_tenant_email", "tenant_id", func.lower(text("email")), unique=True),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Reads the full audit trail (questions and answers); manages nothing (docs/security.md).
    is_auditor: Mapped[bool] = mapped_column(Boolean, default=False)
    # A disabled user's keys are refused on their next request; their documents stay.
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # argon2id (PHC string) of the web sign-in password; None: this user cannot sign in on
    # the web (API keys only) until a password is set (services.passwords).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    groups: Mapped[list[Group]] = relationship(secondary="memberships", lazy="selectin")


class OidcIdentity(Base):
    """A user's account at an OpenID Connect provider: its issuer and ``sub``, recorded at
    the first single sign-on; later sign-ins must present the same ``sub`` (services.oidc)."""

    __tablename__ = "oidc_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "issuer", "subject"),
        UniqueConstraint("user_id", "issuer"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The public part of the key, used to find the row; the secret part is only stored hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # None: the key does not expire.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The user who issued it (the key's owner, or an admin for them); None: the operator
    # (the command line, or the first admin's key made at first start).
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What the key may call: "full", "chat" or "upload" (``api.scopes``), and the browser
    # origins it may be used from (empty: any); both fixed when the key is issued.
    scope: Mapped[str] = mapped_column(String(16), default="full", server_default="full")
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")


class DocumentStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class DocumentStage(enum.StrEnum):
    STORED = "stored"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    DONE = "done"


# A document whose store copy of its access list is behind the committed one, or unknown.
STORE_BEHIND = "store_access_version IS NULL OR store_access_version < access_version"


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_tenant_status", "tenant_id", "status"),
        Index("ix_documents_tenant_hash", "tenant_id", "content_hash"),
        # What waits for a stage (workers look on every message): unfinished documents only.
        Index(
            "ix_documents_waiting",
            "stage",
            "updated_at",
            postgresql_where=text("status IN ('queued', 'processing')"),
            sqlite_where=text("status IN ('queued', 'processing')"),
        ),
        # What the sweeper looks for every minute (core.db.access): rarely any row at all.
        Index(
            "ix_documents_store_behind",
            "id",
            postgresql_where=text(STORE_BEHIND),
            sqlite_where=text(STORE_BEHIND),
        ),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(120))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped by every access change, so the store can tell the newest list from an older one.
    access_version: Mapped[int] = mapped_column(Integer, default=1)
    # The access version every chunk in the vector store is known to carry (core.db.access);
    # behind ``access_version`` (or None: unknown) until the list is written there again.
    store_access_version: Mapped[int | None] = mapped_column(Integer, default=1)
    # Access tokens as written on every chunk (core.access): the one source of truth.
    access_entries: Mapped[list[DocumentAccess]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.QUEUED)
    stage: Mapped[str] = mapped_column(String(20), default=DocumentStage.STORED)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    # This version's chunks at positions below this are in the vector store: a document
    # embedded a slice at a time resumes here (``chunks_done`` is progress as shown, counted
    # in the order chunks are written, which is not position order).
    chunks_indexed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    parse_info: Mapped[dict] = mapped_column(JSON, default=dict)
    blob_key: Mapped[str] = mapped_column(String(300))
    # Fencing for exactly-once processing: the run that holds the token may write progress.
    run_token: Mapped[str | None] = mapped_column(String(36))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the chunks were copied from an identical, already indexed upload.
    reused_from: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def access(self) -> list[str]:
        return sorted(entry.token for entry in self.access_entries)

    @access.setter
    def access(self, tokens: list[str]) -> None:
        wanted = set(tokens)
        self.access_entries = [e for e in self.access_entries if e.token in wanted]
        present = {e.token for e in self.access_entries}
        self.access_entries.extend(DocumentAccess(token=t) for t in sorted(wanted - present))


class DocumentAccess(Base):
    """One access token of a document: a table, so "documents I may read" is an indexed query."""

    __tablename__ = "document_access"
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(250), primary_key=True, index=True)


class IngestionJob(Base):
    """One attempt at one stage of one document version: the history behind ``Document.status``."""

    __tablename__ = "ingestion_jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="running")
    worker: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Conversation(Base):
    """A chat thread. It belongs to one user: nobody else, admins included, reads it."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_owner", "tenant_id", "user_id", "updated_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "seq"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Order within the conversation; timestamps can tie.
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))  # "user" or "assistant"
    content: Mapped[str] = mapped_column(Text)
    # For answers: the passages cited, as shown to the user (document, page, chunk).
    citations: Mapped[list[dict]] = mapped_column(JSON, default=list)
    answer_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AnswerRecord(Base):
    """The audit trail of every search and answer: who asked what, what was retrieved and
    cited, which model answered. Kept when the conversation is deleted (no foreign keys to
    conversations or documents, whose rows may go)."""

    __tablename__ = "answer_records"
    __table_args__ = (Index("ix_answer_records_tenant_time", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    endpoint: Mapped[str] = mapped_column(String(40))  # "search", "chat", "chat.completions"
    conversation_id: Mapped[str | None] = mapped_column(String(36))
    question: Mapped[str] = mapped_column(Text)
    # The standalone query actually searched, when follow-up rewriting changed it.
    search_query: Mapped[str] = mapped_column(Text, default="")
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"chunk_id", "doc_id", "version", "position", "score"}, ...] in rank order.
    retrieved: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # Passage numbers as shown to the model and the chunks behind each cited one.
    cited: Mapped[list[dict]] = mapped_column(JSON, default=list)
    model: Mapped[str | None] = mapped_column(String(200))
    backend: Mapped[str | None] = mapped_column(String(100))
    prompt_version: Mapped[str | None] = mapped_column(String(40))
    # "ok", "no_context" (nothing readable matched), "declined" (the model said it does not
    # know), "error" (with ``error``), "cancelled" (the client went away mid-stream).
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The asker's verdict on the answer: "up" or "down" (a later vote replaces it), a comment.
    feedback: Mapped[str | None] = mapped_column(String(8))
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Who did what to what, and when: uploads, deletions, access changes, keys, users, groups,
    and an admin acting on a document they do not own. Searches and answers are in
    ``AnswerRecord``; these rows never hold document text, questions or answers."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_time", "tenant_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(36))
    # The user who acted; None for the command line run by an operator.
    actor_id: Mapped[str | None] = mapped_column(String(36))
    # e.g. "document.upload", "document.access", "key.revoke", "user.disable" (core.db.events).
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(36))
    # Ids and names only (never content): e.g. the access list before and after.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WebSession(Base):
    """A browser session (web sign-in). The cookie carries a random token; only its SHA-256
    is kept here, so a copy of this table signs nobody in."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id", "revoked_at"),)
    # hex SHA-256 of the cookie's token
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Kept to the minute (like an API key's last use): the idle timeout counts from it.
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The absolute end, however active the session is.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class SignInAttempt(Base):
    """One web sign-in attempt, for lockout and the per-address limit. The account is kept
    as a keyed hash of (organisation, username) as typed: people type passwords into the
    username field, and this table must hold no password."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_account", "account_hash", "created_at"),
        Index("ix_sign_in_attempts_ip", "ip", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64), default="")
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set on the failure that locked the account: refused until then, whatever the password.
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TenantSettings(Base):
    """What a tenant's admins choose for their organisation (``services.tenant_settings``);
    no row: every default. Changed at ``PUT /v1/admin/tenant/settings``, audited."""

    __tablename__ = "tenant_settings"
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # Shown in the portal's header instead of the sign-in name (which stays the identifier).
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Who reads a new upload that names no access list: "owner" (the uploader) or "everyone".
    default_access: Mapped[str] = mapped_column(String(16), default="owner")
    # The portal's language for members who have not chosen one: None follows the browser.
    default_language: Mapped[str | None] = mapped_column(String(8))
    # Personal-data redaction: "off", "ingest", "answers", "both"; None: the deployment's
    # default (core.settings_pii).
    pii_redaction: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(36))
