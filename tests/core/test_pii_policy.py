"""A tenant's redaction mode as the product reads it (``services.pii``): the deployment's
default until an admin chooses, a choice made through this process in force at once despite
the cache, and chunks masked in their text, table HTML and headings. Real SQLite database."""

from __future__ import annotations

from pathlib import Path

from core.db import identity
from core.db.migrate import upgrade
from core.db.session import make_engine, make_session_factory, transaction
from core.settings_pii import PiiSettings
from ingest.types import Chunk
from services import tenant_settings
from services.pii import IngestMasks, PiiPolicy, mask_chunks, redactor_for, stream_mask


def test_the_mode_follows_the_default_then_the_tenants_choice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'z.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "acme").id
        admin = identity.create_user(s, tenant, "ann", is_admin=True).id
    settings = PiiSettings(default_mode="answers", cache_s=3600)
    policy = PiiPolicy(sessions, settings)
    assert policy.mode(tenant) == "answers"
    assert policy.served(tenant) is not None
    assert IngestMasks(sessions, settings).for_tenant(tenant) is None
    change = tenant_settings.TenantSettingsUpdate(pii_redaction="ingest")
    assert tenant_settings.update(sessions, tenant, admin, change).pii_redaction == "ingest"
    # Cached for an hour, yet the change made here is in force at once.
    assert policy.mode(tenant) == "ingest" and policy.served(tenant) is None
    assert IngestMasks(sessions, settings).for_tenant(tenant) is not None
    back = tenant_settings.TenantSettingsUpdate(pii_redaction=None)
    tenant_settings.update(sessions, tenant, admin, back)
    assert policy.mode(tenant) == "answers"
    engine.dispose()


def test_chunks_are_masked_in_text_tables_and_headings() -> None:
    chunk = Chunk(
        text="联系人 138 1234 5678",
        position=0,
        page=1,
        section_path=("客户 zhang@example.com",),
        kind="table",
        html="<td>11010519491231002X</td>",
    )
    (masked,) = mask_chunks(redactor_for(PiiSettings()), [chunk])
    assert masked.text == "联系人 [手机号]"
    assert masked.section_path == ("客户 [邮箱]",)
    assert masked.html == "<td>[身份证号]</td>"  # the chunk's language, not the cell's
    partial = redactor_for(PiiSettings(style="partial", kinds=["mobile_cn"]))
    assert partial.redact("电话 13812345678 邮箱 a@b.cn") == "电话 138****5678 邮箱 a@b.cn"
    unmasked = stream_mask(None)
    assert unmasked.feed("138 1234") + unmasked.flush() == "138 1234"
