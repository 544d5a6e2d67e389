"""The server command line `descent-server`: dev, api, worker, migrate and keys."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.engine import make_url

from descent_server.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(
    name="descent-server",
    help="Run descent: the embedded dev server, the API, workers, migrations, API keys.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    auth: Annotated[bool, typer.Option("--auth", help="Require API keys even locally.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the SQLite file and broker live [DESCENT_DATA_DIR].")
    ] = None,
    allow_remote_no_auth: Annotated[
        bool,
        typer.Option(
            "--allow-remote-no-auth",
            help="Serve a non-loopback --host without --auth (anyone who can reach it is you).",
        ),
    ] = False,
) -> None:
    """Serve the API and a real worker on SQLite with a file broker (zero set-up)."""
    from descent_server import embedded

    if not auth and not embedded.is_loopback(host):
        if not allow_remote_no_auth:
            typer.echo(
                f"refusing to serve {host} without --auth: anyone who can reach it could read, "
                "train and delete everything. Add --auth (and create a key with "
                "`descent-server keys create --owner NAME`), listen on 127.0.0.1, or pass "
                "--allow-remote-no-auth if this network is really yours alone.",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(
            f"WARNING: serving {host} with auth OFF (--allow-remote-no-auth): every client "
            "that can reach this port can read, train and delete everything.",
            err=True,
        )
    embedded.serve(
        host=host,
        port=port,
        data_dir=data_dir or get_settings().data_dir,
        auth=auth,
    )


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Number of uvicorn worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (~8% of a cheap request's CPU).")
    ] = True,
) -> None:
    """Serve the HTTP API with uvicorn (production: PostgreSQL and Redis from settings)."""
    import uvicorn

    uvicorn.run(
        "descent_server.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=access_log,
    )


@app.command()
def worker(
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues: cpu, gpu [DESCENT_WORKER_QUEUES].")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Pool processes (default: one per CPU).")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "info",
) -> None:
    """Run a Celery worker on the given queues (a gpu worker: --queues gpu); it also sweeps."""
    from descent_server.workers.celery_app import app as celery_app

    argv = ["worker", "-Q", queues or get_settings().worker_queues, "--pool", "prefork"]
    argv += ["--loglevel", loglevel]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    celery_app.worker_main(argv)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic upgrade head)."""
    from descent_server.db.migrate import upgrade

    upgrade()
    url = make_url(get_settings().resolved_database_url())
    typer.echo(f"database is up to date: {url.render_as_string(hide_password=True)}")


@keys_app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="Owner of everything created with this key.")],
) -> None:
    """Create an API key; it is printed once, on the last line, and stored only as a hash."""
    from descent_server.services import keys as key_service

    try:
        with _session() as session:
            key, secret = key_service.create(session=session, owner=owner)
    except ValueError as exc:
        typer.echo(f"cannot create a key: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created key {key.id} for owner {key.owner} (store it now, it is shown once):")
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys: id, owner, prefix, created, revoked."""
    from descent_server.services import keys as key_service

    with _session() as session:
        rows = key_service.list_keys(session=session)
        lines = [
            f"{k.id}  {k.owner:<20}  {k.prefix:<12}  {k.created_at:%Y-%m-%d %H:%M}  "
            f"{'revoked ' + format(k.revoked_at, '%Y-%m-%d %H:%M') if k.revoked_at else 'active'}"
            for k in rows
        ]
    typer.echo(f"{'id':<36}  {'owner':<20}  {'prefix':<12}  {'created':<16}  status")
    for line in lines:
        typer.echo(line)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Id (or shown prefix) of the key.")],
) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    from descent_server.services import keys as key_service
    from descent_server.services.errors import NotFound

    with _session() as session:
        try:
            key_service.revoke(session=session, key_id=key_id)
        except NotFound:
            typer.echo(f"no such key: {key_id}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"revoked key {key_id}")


def _session() -> AbstractContextManager[Session]:
    """Open a database session on the configured database (committed once at the end)."""
    from descent_server.db.session import session_scope

    return session_scope()


main = app
