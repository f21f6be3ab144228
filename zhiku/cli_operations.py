"""``zhiku beat``, ``zhiku admin backup`` and ``zhiku admin restore`` (registered by
``zhiku.cli``): operating a deployment rather than its contents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings


def beat(log_level: Annotated[str, typer.Option()] = "info") -> None:
    """Send the periodic clean-up (stuck documents re-queued, orphaned files and vectors
    removed) every ZHIKU_MAINTENANCE__INTERVAL_S; run exactly one per deployment."""
    settings = get_settings()
    if not settings.redis_url:
        raise typer.BadParameter(
            "set ZHIKU_REDIS_URL: the embedded default cleans up inside 'serve'"
        )
    from zhiku.worker import app as celery

    schedule = settings.data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", f"--loglevel={log_level.upper()}", f"--schedule={schedule}"])


def backup(
    folder: Annotated[Path, typer.Argument(help="A new folder for the backup")],
) -> None:
    """Back up the database, the vector index and the stored files, with a manifest of
    counts and checksums. The embedded default is backed up with `zhiku serve` stopped."""
    from zhiku.backup import backup as run_backup

    run_backup(get_settings(), folder, lambda line: typer.echo(line, err=True))


def restore(
    folder: Annotated[Path, typer.Argument(help="A folder written by `zhiku admin backup`")],
) -> None:
    """Restore a backup into this deployment, which must be empty (a fresh data folder or
    database); every file's checksum is checked first."""
    from core.errors import Conflict, InvalidInput
    from zhiku.backup import restore as run_restore

    try:
        run_restore(get_settings(), folder, lambda line: typer.echo(line, err=True))
    except (Conflict, InvalidInput) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
