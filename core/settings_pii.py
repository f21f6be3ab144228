"""Personal-data redaction (``ZHIKU_PII__*``): the default for tenants that chose none, and
how what is found is masked (``core.pii``, ``core.pii_redact``).

Modes: ``off``; ``ingest``: chunks are masked before they are embedded and stored, so the index
never holds the numbers (search cannot find them either); ``answers``: the index keeps the
text, and what is served from it is masked (answers as they stream, their sources, search
results, a cited passage); ``both``. A tenant's own choice (``PUT /v1/admin/tenant/settings``,
``pii_redaction``) overrides ``default_mode``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["off", "ingest", "answers", "both"]
PiiKind = Literal[
    "id_cn",
    "id_hk",
    "id_tw",
    "bank_card",
    "mobile_cn",
    "landline_cn",
    "mobile_tw",
    "landline_tw",
    "phone_hk",
    "phone_mo",
    "phone",
    "email",
]


class PiiSettings(BaseModel):
    default_mode: Mode = "off"
    # ``token``: a typed placeholder in the text's language ([身份证号], [phone number]);
    # ``partial``: the middle hidden (138****5678, 110105********002X, z***@example.com).
    style: Literal["token", "partial"] = "token"
    # Empty: every kind.
    kinds: list[PiiKind] = Field(default_factory=list)
    # How long an API process trusts a tenant's mode it read (a change made through another
    # process is in force within this; through this one, at once).
    cache_s: float = Field(default=10.0, ge=0)
