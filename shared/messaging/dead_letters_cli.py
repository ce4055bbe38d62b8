"""`govperf dead-letters list|replay|discard SERVICE ...`: the operator's side of dead letters,
straight on the service's schema (GOVPERF_DATABASE_URL or GOVPERF_<SCHEMA>_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import importlib
import os
from typing import Annotated

import typer

from shared.errors import AppError
from shared.messaging import dead_letters
from shared.messaging.tables import MessagingTables
from shared.stack import ServiceSpec, get_service

app = typer.Typer(
    name="dead-letters",
    help="Events a consumer gave up on and outbox rows the relay parked: list, replay, discard.",
    no_args_is_help=True,
)

ServiceArg = Annotated[str, typer.Argument(help="Service whose dead letters to work on, e.g. indicator.")]
KindOpt = Annotated[
    str, typer.Option("--kind", help="consumer (events this service failed to apply) or outbox (parked events).")
]


def _resolve(service: str, kind: str) -> tuple[ServiceSpec, str, MessagingTables]:
    if kind not in ("consumer", "outbox"):
        typer.echo("--kind must be consumer or outbox", err=True)
        raise typer.Exit(2)
    try:
        spec = get_service(service)
    except KeyError as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(2) from None
    url = os.environ.get(f"GOVPERF_{spec.schema.upper()}_DATABASE_URL") or os.environ.get("GOVPERF_DATABASE_URL")
    if not url:
        typer.echo("set GOVPERF_DATABASE_URL (or GOVPERF_<SCHEMA>_DATABASE_URL)", err=True)
        raise typer.Exit(2)
    tables: MessagingTables = importlib.import_module(spec.module.rsplit(".", 1)[0] + ".db").TABLES
    return spec, url, tables


async def _list(url: str, tables: MessagingTables, kind: str, status: str | None, limit: int) -> None:
    from shared.db import create_engine, make_sessionmaker

    engine = create_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            page = await dead_letters.list_dead_letters(
                session,
                tables,
                kind=kind,  # type: ignore[arg-type]
                status=status,  # type: ignore[arg-type]
                limit=limit,
            )
    finally:
        await engine.dispose()
    if not page.items:
        typer.echo("no dead letters")
        return
    for item in page.items:
        who = item.consumer or "outbox"
        error = (item.error or "").replace("\n", " ")[:100]
        typer.echo(
            f"{item.id}\t{item.status}\t{who}\t{item.subject}\tattempts={item.attempts}\t"
            f"bytes={item.payload_bytes}\t{item.created_at:%Y-%m-%dT%H:%M:%SZ}\t{error}"
        )
    if page.next_cursor:
        typer.echo("(more: raise --limit, at most 500 at a time)")


async def _change(url: str, tables: MessagingTables, kind: str, action: str, ids: list[str]) -> int:
    from shared.db import create_engine, make_sessionmaker

    engine = create_engine(url, pool_size=1)
    failures = 0
    operation = dead_letters.replay if action == "replay" else dead_letters.discard
    try:
        for dead_letter_id in ids:
            try:
                async with make_sessionmaker(engine)() as session, session.begin():
                    await operation(session, tables, kind=kind, dead_letter_id=dead_letter_id)  # type: ignore[arg-type]
            except AppError as exc:
                typer.echo(f"{dead_letter_id}: {exc.detail}", err=True)
                failures += 1
            else:
                done = {"replay": "replay requested" if kind == "consumer" else "due again", "discard": "discarded"}
                typer.echo(f"{dead_letter_id}: {done[action]}")
    finally:
        await engine.dispose()
    return failures


@app.command("list")
def list_command(
    service: ServiceArg,
    kind: KindOpt = "consumer",
    status: Annotated[
        str, typer.Option("--status", help="open, replay_requested, replayed, discarded or all.")
    ] = "open",
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
) -> None:
    """List dead letters (id, status, consumer, subject, attempts, size, when, error)."""
    if status not in ("open", "replay_requested", "replayed", "discarded", "all"):
        typer.echo("--status must be open, replay_requested, replayed, discarded or all", err=True)
        raise typer.Exit(2)
    _, url, tables = _resolve(service, kind)
    asyncio.run(_list(url, tables, kind, None if status == "all" else status, limit))


@app.command("replay")
def replay_command(
    service: ServiceArg, ids: Annotated[list[str], typer.Argument(help="Dead-letter ids.")], kind: KindOpt = "consumer"
) -> None:
    """Replay: a consumer's dead letter is applied by the running service within seconds;
    a parked outbox row is published again (before the later events of its aggregate)."""
    _, url, tables = _resolve(service, kind)
    if asyncio.run(_change(url, tables, kind, "replay", ids)):
        raise typer.Exit(1)


@app.command("discard")
def discard_command(
    service: ServiceArg, ids: Annotated[list[str], typer.Argument(help="Dead-letter ids.")], kind: KindOpt = "consumer"
) -> None:
    """Give up on dead letters for good (a discarded outbox row lets its aggregate's later events go)."""
    _, url, tables = _resolve(service, kind)
    if asyncio.run(_change(url, tables, kind, "discard", ids)):
        raise typer.Exit(1)
