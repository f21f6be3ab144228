"""The periodic clean-up (``workers.maintenance``, run by Celery beat or, in the embedded
default, by the in-process sweeper): ``ZHIKU_MAINTENANCE__*``."""

from __future__ import annotations

from pydantic import BaseModel, model_validator


class MaintenanceSettings(BaseModel):
    # How often beat sends the clean-up task (and the embedded sweeper runs it).
    interval_s: int = 3600
    # Files and vectors are removed only when their document has had no row for this long,
    # judged by the files' age: an upload writes its file before its row commits, and a
    # slow upload must never lose its file. Far above any upload's transaction.
    orphan_grace_s: int = 6 * 3600
    # Off: only stuck documents are re-queued (``workers.sweeper``), nothing is deleted.
    remove_orphans: bool = True

    @model_validator(mode="after")
    def _check(self) -> MaintenanceSettings:
        if self.orphan_grace_s < 600:
            raise ValueError(
                "ZHIKU_MAINTENANCE__ORPHAN_GRACE_S: at least 600 s (uploads in flight)"
            )
        return self
