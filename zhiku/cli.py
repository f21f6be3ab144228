"""The ``zhiku`` command: serve, worker, ingest, admin."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings
from zhiku import cli_operations

app = typer.Typer(
    help="Zhiku: a self-hosted, permission-aware knowledge base.", no_args_is_help=True
)
admin = typer.Typer(help="Manage tenants, users, groups and API keys.", no_args_is_help=True)
app.add_typer(admin, name="admin")
db = typer.Typer(help="The database schema (migrations).", no_args_is_help=True)
app.add_typer(db, name="db")


@app.callback()
def _environment_checked() -> None:
    # A typo in a ZHIKU_* name stops every command with its message (not a traceback),
    # before anything starts; core.settings refuses it the same way wherever it loads.
    from core.settings import Settings
    from core.settings_env import UnknownSettings, refuse_unknown_variables

    try:
        refuse_unknown_variables(Settings, env_file=Settings.model_config.get("env_file"))
    except UnknownSettings as exc:
        typer.echo(f"zhiku: {exc}", err=True)
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    from core.logs import configure

    configure(level, get_settings().observability.log_format)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    log_level: Annotated[str, typer.Option()] = "info",
) -> None:
    """Run the API. With no settings: SQLite, embedded Qdrant and in-process ingestion."""
    import uvicorn

    from zhiku.app import create_app
    from zhiku.bootstrap import ensure_first_admin
    from zhiku.http_protocol import header_timed

    _logging(log_level)
    settings = get_settings()
    ensure_first_admin(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"Zhiku: sign in at http://{shown}:{port}/login (API: /v1, docs: /docs)")
    # JSON logs: uvicorn's loggers propagate to ours (one format, with the request id).
    json_logs = settings.observability.log_format == "json"
    uvicorn.run(
        create_app(settings, own_process=True),
        host=host,
        port=port,
        log_level=log_level,
        # Slow clients: headers within a deadline (uvicorn has none), an idle kept-alive
        # connection closed after 5 s, and headers of at most ``max_header_bytes`` (h11 caps
        # them itself; httptools had no cap); a slow body is paced by api.limits.
        http=header_timed(
            settings.limits.header_timeout_s, max_header_bytes=settings.limits.max_header_bytes
        ),
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=settings.limits.max_header_bytes,
        **({"log_config": None} if json_logs else {}),
    )


# Embed groups in flight in an embed-only worker: while one is claimed or finished (database
# work), the other keeps the model busy.
EMBED_TASK_THREADS = 2


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated: parse, parse-small, embed")
    ] = "parse,embed",
    concurrency: Annotated[int, typer.Option(help="Processes (prefork)")] = 1,
    log_level: Annotated[str, typer.Option()] = "info",
    autoscale: Annotated[
        str, typer.Option(help="MAX,MIN: a parse worker's pool grows with its queue")
    ] = "",
) -> None:
    """Run a Celery ingestion worker (needs ZHIKU_REDIS_URL).

    A worker for the embed queue alone runs two task threads in one process (one model, one
    store), so that one group is embedded while the next is claimed or the last finished, as
    the embedded default's two embed loops do; with a Qdrant server, ``--concurrency N`` makes
    it N processes instead.

    ``parse`` serves both parse queues; ``parse-small`` small files (64 KiB or less) alone: a
    slot no large file can take, so a memo never waits behind 200-page PDFs."""
    from workers import metrics_endpoint

    # Before anything that defines a series is imported (it picks the metrics' mode).
    if get_settings().observability.worker_metrics_port:
        metrics_endpoint.prepare()
    from core.db.migrate import upgrade
    from index.embedding import available_cores
    from workers.queues import WORKER_QUEUES, served_queues

    embed_threads = queues.strip() == "embed" and concurrency == 1
    # Each prefork process embeds on its share of the cores, not on all of them (unless the
    # operator chose): the processes are forked with these settings.
    share = max(1, available_cores() // max(1, 1 if embed_threads else concurrency))
    os.environ.setdefault("ZHIKU_EMBEDDING__THREADS", str(share))
    get_settings.cache_clear()
    settings = get_settings()
    if not settings.redis_url:
        raise typer.BadParameter("set ZHIKU_REDIS_URL: the embedded default ingests inside 'serve'")
    asked = [q.strip() for q in queues.split(",") if q.strip()]
    if not asked or any(q not in WORKER_QUEUES for q in asked):
        raise typer.BadParameter(
            f"--queues takes parse, parse-small, embed (comma-separated), not {queues!r}"
        )
    # Celery's --autoscale grows a prefork pool with the queue: parse only (an embed process
    # holds a model, and the embedded store admits one process).
    scale = autoscale.replace(" ", "").split(",") if autoscale else []
    if autoscale and (
        "embed" in asked or len(scale) != 2 or not all(n.isdigit() for n in scale)
        or int(scale[0]) < max(1, int(scale[1]))
    ):  # fmt: skip
        raise typer.BadParameter(
            "--autoscale MAX,MIN (MAX >= MIN, MAX >= 1) with --queues parse or parse-small"
        )
    if "embed" in asked and concurrency > 1 and not settings.qdrant.url:
        # Each prefork process would open the embedded store, which one process may hold.
        raise typer.BadParameter(
            "the embedded vector store opens in one process: serve the embed queue with"
            " --concurrency 1 (parse in another worker: --queues parse --concurrency N), or"
            " set ZHIKU_QDRANT__URL to a Qdrant server"
        )
    if settings.database.auto_migrate:  # else `zhiku db upgrade` ran first (compose.yaml)
        upgrade(settings.database_url)
    # Every worker also takes the periodic clean-up, but one for small files alone.
    wanted = served_queues(asked)
    from zhiku.worker import app as celery

    metrics_endpoint.serve(settings.observability)

    celery.worker_main(
        [
            "worker",
            f"--queues={','.join(wanted)}",
            # Threads for embedding alone: no hostile input reaches the model, so a process
            # pool's time limits are not needed there (they are for parsing).
            f"--autoscale={','.join(scale)}"
            if scale
            else f"--concurrency={EMBED_TASK_THREADS if embed_threads else concurrency}",
            f"--pool={'threads' if embed_threads else 'prefork'}",
            f"--loglevel={log_level.upper()}",
            f"--hostname=zhiku-{os.getpid()}@{socket.gethostname()}",
        ]
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest")],
    tenant: Annotated[str, typer.Option(help="Tenant name")] = "default",
    user: Annotated[str, typer.Option(help="Uploading user's name")] = "admin",
    everyone: Annotated[bool, typer.Option(help="Readable by everyone in the tenant")] = False,
    group: Annotated[list[str] | None, typer.Option(help="Group names that may read")] = None,
    url: Annotated[str | None, typer.Option(help="Upload to a running server instead")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="ZHIKU_API_KEY")] = None,
) -> None:
    """Ingest files with a progress bar per file and overall."""
    from zhiku.ingest_command import ingest_local, ingest_remote

    _logging("warning")
    files = _expand(paths)
    if not files:
        raise typer.BadParameter("no files found")
    if url:
        if not api_key:
            raise typer.BadParameter("--api-key (or ZHIKU_API_KEY) is needed with --url")
        failed = ingest_remote(url, api_key, files, everyone=everyone)
    else:
        failed = ingest_local(get_settings(), files, tenant, user, everyone, group or [])
    raise typer.Exit(code=1 if failed else 0)


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            out.append(path)
        else:
            raise typer.BadParameter(f"{path} does not exist")
    return out


@db.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Alembic revision to reach")] = "head",
) -> None:
    """Bring the schema up to date, then exit: a deployment's one migration job, run before
    the API and the workers (which then skip it: ZHIKU_DATABASE__AUTO_MIGRATE=false)."""
    from core.db.migrate import upgrade

    _logging("info")
    upgrade(get_settings().database_url, revision)
    typer.echo(f"database schema at {revision}", err=True)


@admin.command("create-tenant")
def create_tenant(name: str) -> None:
    from zhiku import admin_commands

    typer.echo(admin_commands.create_tenant(get_settings(), name))


@admin.command("create-user")
def create_user(
    tenant: str,
    name: str,
    email: Annotated[str | None, typer.Option()] = None,
    is_admin: Annotated[bool, typer.Option("--admin")] = False,
    is_auditor: Annotated[
        bool, typer.Option("--auditor", help="Reads questions and answers in the audit trail")
    ] = False,
) -> None:
    from zhiku import admin_commands

    typer.echo(
        admin_commands.create_user(get_settings(), tenant, name, email, is_admin, is_auditor)
    )


@admin.command("disable-user")
def disable_user(tenant: str, user: str) -> None:
    """Refuse the user's keys from their next request on (their documents stay)."""
    from zhiku import admin_commands

    admin_commands.set_disabled(get_settings(), tenant, user, True)


@admin.command("enable-user")
def enable_user(tenant: str, user: str) -> None:
    from zhiku import admin_commands

    admin_commands.set_disabled(get_settings(), tenant, user, False)


@admin.command("set-roles")
def set_roles(
    tenant: str,
    user: str,
    is_admin: Annotated[bool | None, typer.Option("--admin/--no-admin")] = None,
    is_auditor: Annotated[bool | None, typer.Option("--auditor/--no-auditor")] = None,
) -> None:
    """Grant or withdraw roles; a role not named stays as it is. The auditor role is granted
    here only, never over HTTP."""
    from zhiku import admin_commands

    admin, auditor = admin_commands.set_roles(get_settings(), tenant, user, is_admin, is_auditor)
    typer.echo(f"admin={admin} auditor={auditor}")


@admin.command("create-group")
def create_group(tenant: str, name: str) -> None:
    from zhiku import admin_commands

    typer.echo(admin_commands.create_group(get_settings(), tenant, name))


@admin.command("add-member")
def add_member(tenant: str, user: str, group: str) -> None:
    from zhiku import admin_commands

    admin_commands.add_member(get_settings(), tenant, user, group)


@admin.command("remove-member")
def remove_member(tenant: str, user: str, group: str) -> None:
    """Take a user out of a group: its documents are out of their reach from now on."""
    from zhiku import admin_commands

    admin_commands.remove_member(get_settings(), tenant, user, group)


@admin.command("create-key")
def create_key(
    tenant: str,
    user: str,
    name: Annotated[str, typer.Option(help="A label")] = "",
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Refused after this many days")
    ] = None,
) -> None:
    """Issue an API key; it is shown once (on standard output, its id on standard error)."""
    from zhiku import admin_commands

    issued = admin_commands.create_key(get_settings(), tenant, user, name, expires_in_days)
    typer.echo(f"key id {issued.id} (for revoke-key, rotate-key)", err=True)
    typer.echo(issued.plaintext)


@admin.command("list-keys")
def list_keys(tenant: str, user: str) -> None:
    """A user's keys, newest first: id, prefix, state, expiry, last use, name (no secrets)."""
    from core.db.keys import is_usable
    from core.db.models import utcnow
    from zhiku import admin_commands

    now = utcnow()
    for key in admin_commands.list_keys(get_settings(), tenant, user):
        state = "active" if is_usable(key, now) else "revoked" if key.revoked_at else "expired"
        expires = key.expires_at.isoformat() if key.expires_at else "never"
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        typer.echo(
            f"{key.id}\tzk_{key.prefix}\t{state}\texpires={expires}\tused={used}\t{key.name}"
        )


@admin.command("set-password")
def set_password(tenant: str, user: str) -> None:
    """Set a user's web sign-in password: prompted twice on a terminal, else the first line
    of standard input. Never an argument (the process list shows arguments to everyone)."""
    import sys

    from core.errors import InvalidInput
    from zhiku import admin_commands

    if sys.stdin.isatty():
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        admin_commands.set_password(get_settings(), tenant, user, password)
    except InvalidInput as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("password set; the user's browser sessions have ended", err=True)


@admin.command("revoke-key")
def revoke_key(key_id: str) -> None:
    """Revoke an API key by its id; requests with it fail from now on."""
    from zhiku import admin_commands

    admin_commands.revoke_key(get_settings(), key_id)


@admin.command("rotate-key")
def rotate_key(
    key_id: str,
    grace_seconds: Annotated[
        int, typer.Option(min=0, max=7 * 24 * 3600, help="The old key keeps working this long")
    ] = 0,
) -> None:
    """Replace a key with a new one (same name and lifetime); the old one is revoked."""
    from zhiku import admin_commands

    issued = admin_commands.rotate_key(get_settings(), key_id, grace_seconds)
    typer.echo(f"key id {issued.id} (replaces {key_id})", err=True)
    typer.echo(issued.plaintext)


@admin.command("reindex")
def reindex(
    url: Annotated[
        str | None,
        typer.Option(envvar="ZHIKU_URL", help="A running server's URL: re-index through it"),
    ] = None,
    key: Annotated[
        str | None, typer.Option(envvar="ZHIKU_API_KEY", help="An admin's API key for --url")
    ] = None,
) -> None:
    """Re-embed every chunk with the configured embedding model, beside the live index,
    and switch to it when complete (all tenants; the old index serves until then)."""
    from zhiku import admin_commands

    admin_commands.reindex(get_settings(), lambda line: typer.echo(line, err=True), url, key)


# Operations: the periodic clean-up and backups (zhiku/cli_operations.py).
app.command()(cli_operations.beat)
admin.command("backup")(cli_operations.backup)
admin.command("restore")(cli_operations.restore)


if __name__ == "__main__":
    app()
