"""Documents: who may read them (access), their progress, and the results of an upload."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.access import AccessList
from services.schemas.bounds import Identifier

# Who may read one document: enough for any real team, few enough for one SQL statement.
MAX_ACCESS_IDS = 1000


class AccessSpec(BaseModel):
    """Who may read a document: users and/or groups by id, or everyone in the tenant."""

    # A misspelt key ("user", "group") is refused: ignored, the list it meant was dropped.
    model_config = ConfigDict(extra="forbid")

    users: list[Identifier] = Field(default_factory=list, max_length=MAX_ACCESS_IDS)
    groups: list[Identifier] = Field(default_factory=list, max_length=MAX_ACCESS_IDS)
    everyone: bool = False

    def to_access_list(self) -> AccessList:
        return AccessList(frozenset(self.users), frozenset(self.groups), self.everyone)

    @classmethod
    def from_tokens(cls, tokens: list[str]) -> AccessSpec:
        acl = AccessList.from_tokens(tokens)
        return cls(users=sorted(acl.users), groups=sorted(acl.groups), everyone=acl.everyone)


class Progress(BaseModel):
    chunks_done: int
    chunks_total: int
    percent: float


class DocumentPublic(BaseModel):
    id: str
    title: str
    filename: str
    mime_type: str
    size_bytes: int
    content_hash: str
    version: int
    owner_id: str | None
    access: AccessSpec
    tags: list[str]
    status: str
    stage: str
    progress: Progress
    error: str | None
    reused_from: str | None
    created_at: datetime
    updated_at: datetime


class DocumentsPublic(BaseModel):
    data: list[DocumentPublic]
    count: int
    offset: int
    limit: int


class UploadError(BaseModel):
    filename: str
    status_code: int
    detail: str


class UploadResult(BaseModel):
    data: list[DocumentPublic]
    errors: list[UploadError]
    # Set when the files were saved but could not be handed to the job queue (it is down):
    # they stay "queued" and the worker's sweeper picks them up once it is back.
    notice: str | None = None


class DirectoryEntry(BaseModel):
    id: str
    name: str


class DirectoryPublic(BaseModel):
    """Users and groups of the caller's tenant, by name: whom a document can be shared with."""

    users: list[DirectoryEntry]
    groups: list[DirectoryEntry]
