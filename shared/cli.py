"""`govperf` command line: run the whole platform locally, migrate, mint dev tokens."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from shared.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedStartError,
    child_preexec,
    find_free_port,
    port_is_free,
    start_nats,
    start_postgres,
)
from shared.stack import GATEWAY_PORT, SERVICES, ServiceSpec, get_service

if TYPE_CHECKING:
    from shared.hashchain import Verification

app = typer.Typer(
    name="govperf",
    help="govperf developer tooling: run the platform, migrate schemas, mint dev tokens.",
    no_args_is_help=True,
    add_completion=False,
    # Locals in tracebacks would print database URLs, passwords included.
    pretty_exceptions_show_locals=False,
)

DEFAULT_DATA_DIR = Path(".govperf")
DEFAULT_NATS_PORT = 4222
GATEWAY_URL = f"http://127.0.0.1:{GATEWAY_PORT}"
KNOWN_ROLES = frozenset(
    {
        "admin",
        "perf_office",
        "finance",
        "audit",
        "supervision",
        "legal",
        "department",
        "verifier",
        "expert",
        "investigator",
        "federation",
    }
)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

DataDirOpt = Annotated[Path, typer.Option("--data-dir", help="Where embedded PostgreSQL/NATS data and dev keys live.")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


# --------------------------------------------------------------------------- infrastructure


@dataclass
class Infra:
    """Resolved database/NATS URLs, plus the embedded servers we started (if any).

    `database_url` is "" when every service has its own GOVPERF_<SCHEMA>_DATABASE_URL.
    """

    database_url: str
    nats_url: str | None
    pg: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None

    def stop(self) -> None:
        # NATS first: services are gone by now, postgres last since it is slowest.
        if self.nats is not None:
            self.nats.stop()
        if self.pg is not None:
            self.pg.stop()


class InfraRefused(RuntimeError):
    """Embedded servers are a development convenience; production must give URLs."""


def service_database_url(spec: ServiceSpec, default: str) -> str:
    """Per-service role URL (GOVPERF_<SCHEMA>_DATABASE_URL) wins, as in BaseServiceSettings."""
    return os.environ.get(f"GOVPERF_{spec.schema.upper()}_DATABASE_URL") or default


def _allow_embedded(what: str) -> None:
    if os.environ.get("GOVPERF_ENV", "development") == "production":
        raise InfraRefused(f"GOVPERF_ENV=production: set {what} instead of using an embedded server")


def start_infra(
    data_dir: Path,
    *,
    specs: tuple[ServiceSpec, ...],
    with_nats: bool,
    nats_port: int = DEFAULT_NATS_PORT,
) -> Infra:
    """Use GOVPERF_DATABASE_URL / GOVPERF_NATS_URL when set, else embedded servers under data_dir."""
    data_dir = data_dir.expanduser().resolve()
    infra = Infra(
        database_url=os.environ.get("GOVPERF_DATABASE_URL", ""),
        nats_url=os.environ.get("GOVPERF_NATS_URL") if with_nats else None,
    )
    need_pg = not infra.database_url and any(not service_database_url(s, "") for s in specs)
    try:
        if need_pg:
            _allow_embedded("GOVPERF_DATABASE_URL")
            typer.echo(f"starting embedded PostgreSQL in {data_dir / 'pg'} ...")
            infra.pg = start_postgres(data_dir)
            infra.database_url = infra.pg.url
        if with_nats and not infra.nats_url:
            _allow_embedded("GOVPERF_NATS_URL")
            port = nats_port if port_is_free(nats_port) else find_free_port()
            typer.echo(f"starting embedded NATS JetStream on port {port} ...")
            infra.nats = start_nats(data_dir, port=port)
            infra.nats_url = infra.nats.url
    except BaseException:
        infra.stop()
        raise
    return infra


def migrate_services(specs: tuple[ServiceSpec, ...], database_url: str) -> None:
    from shared.migrations import upgrade  # lazy: only needed when migrating

    for spec in specs:
        typer.echo(f"migrating {spec.name} (schema {spec.schema}) ...")
        upgrade(spec, service_database_url(spec, database_url))


# --------------------------------------------------------------------------- service children


@dataclass
class Child:
    """One uvicorn process. It writes to our terminal itself, each line prefixed with its name
    (GOVPERF_LOG_PREFIX): re-printing every line through a pipe cost the services CPU per request."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None


def spawn_service(spec: ServiceSpec, env: dict[str, str]) -> Child:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        spec.app_factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(spec.port),
        # Our middleware writes one JSON access line per request; uvicorn's would double it.
        "--no-access-log",
        *spec.server_args,
    ]
    # Own session so a terminal Ctrl-C reaches only us and we stop things in order;
    # PDEATHSIG (Linux) makes the child exit if we are SIGKILLed.
    proc = subprocess.Popen(  # noqa: S603 - argv: our interpreter + a ServiceSpec
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=child_preexec(),
    )
    return Child(spec=spec, process=proc)


def stop_children(children: list[Child]) -> None:
    """SIGTERM everyone at once, then SIGKILL whoever is left after STOP_TIMEOUT."""
    for child in children:
        if child.alive():
            child.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(5)


class ServiceFailed(RuntimeError):
    pass


def _check_alive(children: list[Child]) -> None:
    for child in children:
        code = child.process.poll()
        if code is not None:
            raise ServiceFailed(
                f"service {child.spec.name} exited with code {code}; its lines above start with [{child.spec.name}]"
            )


def wait_ready(children: list[Child], timeout: float = READY_TIMEOUT) -> None:
    """Poll each service's /readyz until 200; fail fast if a child dies."""
    import httpx

    pending = list(children)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while pending:
            _check_alive(children)
            if time.monotonic() > deadline:
                names = ", ".join(c.spec.name for c in pending)
                raise ServiceFailed(f"not ready after {timeout:.0f}s: {names}")
            for child in list(pending):
                try:
                    if client.get(f"http://127.0.0.1:{child.spec.port}/readyz").status_code == 200:
                        pending.remove(child)
                except httpx.HTTPError:
                    pass  # not listening yet
            if pending:
                time.sleep(0.25)


def service_env(infra: Infra, jwks_file: Path | None, spec: ServiceSpec | None = None) -> dict[str, str]:
    """The environment of one service process. With dev keys, services verify against the gateway's
    JWKS (which also publishes the dev key outside production, so `govperf token` keeps working) and
    the gateway reads the dev key from the file."""
    env = dict(os.environ)
    env.setdefault("GOVPERF_ENV", "development")
    if infra.database_url:
        env["GOVPERF_DATABASE_URL"] = infra.database_url
    if infra.nats_url:
        env["GOVPERF_NATS_URL"] = infra.nats_url
    if jwks_file is not None:
        env["GOVPERF_JWKS_FILE"] = str(jwks_file)
        if spec is not None and spec.name != "gateway":
            env["GOVPERF_JWKS_URL"] = f"{GATEWAY_URL}/.well-known/jwks.json"
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the terminal as they happen
    if spec is not None:
        env["GOVPERF_LOG_PREFIX"] = f"[{spec.name}] "
    return env


def _redact(url: str) -> str:
    """Never echo a password from an externally supplied URL."""
    if not url:
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def print_banner(infra: Infra, data_dir: Path) -> None:
    typer.echo("")
    typer.echo("govperf is up.")
    for spec in SERVICES:
        base = f"http://127.0.0.1:{spec.port}"
        typer.echo(f"  {spec.name:<10} {base}   docs: {base}/docs")
    typer.echo(f"  postgres   {_redact(infra.database_url) or '(per-service URLs)'}")
    typer.echo(f"  nats       {infra.nats_url}")
    typer.echo("")
    typer.echo(f"Gateway (the public door): {GATEWAY_URL}")
    typer.echo(f"  API docs   {GATEWAY_URL}/docs      GraphQL  {GATEWAY_URL}/graphql")
    typer.echo(f"  REST       {GATEWAY_URL}/api/v1/<service>/...   e.g. /api/v1/indicator/frameworks")
    typer.echo(
        "Get a token (user admin; password from GOVPERF_ADMIN_PASSWORD, or generated on the first start into "
        f"{data_dir}/keys/first-admin-password and to be changed first: POST /api/v1/account/password):"
    )
    typer.echo(f"  TOKEN=$(curl -s -X POST {GATEWAY_URL}/oauth/token -d grant_type=password -d username=admin \\")
    typer.echo('      --data-urlencode "password=$GOVPERF_ADMIN_PASSWORD" | jq -r .access_token)')
    flag = "" if data_dir == DEFAULT_DATA_DIR.resolve() else f" --data-dir {data_dir}"
    typer.echo("  or a development token:  TOKEN=$(govperf token --role admin" + flag + ")")
    typer.echo(f'  curl -H "Authorization: Bearer $TOKEN" {GATEWAY_URL}/api/v1/indicator/frameworks')
    typer.echo("Ctrl-C stops everything.")


class _Shutdown(Exception):
    """Raised from the SIGTERM/SIGINT handler to unwind into the cleanup path."""


def _install_signal_handlers() -> None:
    state = {"stopping": False}

    def handler(signum: int, frame: FrameType | None) -> None:
        if state["stopping"]:
            return  # already unwinding; cleanup has its own timeouts
        state["stopping"] = True
        raise _Shutdown(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _check_ports_free() -> None:
    busy = [s for s in SERVICES if not port_is_free(s.port)]
    if busy:
        ports = ", ".join(f"{s.name}:{s.port}" for s in busy)
        raise ServiceFailed(f"port(s) already in use: {ports} (another `govperf up` running?)")


def _ensure_keys(data_dir: Path) -> Path | None:
    """Dev signing keys, unless a JWKS source is already configured in the environment."""
    if os.environ.get("GOVPERF_JWKS_URL") or os.environ.get("GOVPERF_JWKS_FILE"):
        return None
    from shared.auth.devkeys import ensure_dev_keys

    return ensure_dev_keys(data_dir / "keys").jwks_path


# --------------------------------------------------------------------------- commands


@app.command()
def up(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    nats_port: Annotated[int, typer.Option(help="Embedded NATS port (a free one if taken).")] = DEFAULT_NATS_PORT,
) -> None:
    """Start PostgreSQL, NATS and every service; Ctrl-C stops them all."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _install_signal_handlers()
    infra: Infra | None = None
    children: list[Child] = []
    code = 0
    try:
        _check_ports_free()
        infra = start_infra(data_dir, specs=SERVICES, with_nats=True, nats_port=nats_port)
        jwks_file = _ensure_keys(data_dir)
        migrate_services(SERVICES, infra.database_url)
        for spec in SERVICES:
            children.append(spawn_service(spec, service_env(infra, jwks_file, spec)))
        wait_ready(children)
        print_banner(infra, data_dir)
        while True:
            _check_alive(children)
            time.sleep(0.5)
    except _Shutdown as sig:
        typer.echo(f"\n{sig}: stopping ...")
    except KeyboardInterrupt:
        typer.echo("\nstopping ...")
    except ServiceFailed as exc:
        _err(f"error: {exc}")
        code = 1
    except InfraRefused as exc:
        _err(f"refused: {exc}")
        code = 2
    except EmbeddedStartError as exc:
        _err(f"error: {exc}")
        code = 1
    # Any other startup failure (postgres, migrations, ...) propagates with its
    # traceback (exit 1) after the cleanup below.
    finally:
        # No more interruptions while cleaning up: each step has its own timeout.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_children(children)
        if infra is not None:
            infra.stop()
    typer.echo("stopped.")
    raise typer.Exit(code)


@app.command()
def migrate(
    service: Annotated[str | None, typer.Argument(help="Service name; all when omitted.")] = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Run alembic migrations for every service (or one)."""
    try:
        specs = SERVICES if service is None else (get_service(service),)
    except KeyError as exc:
        _err(str(exc.args[0]))
        raise typer.Exit(2) from None
    try:
        infra = start_infra(data_dir, specs=specs, with_nats=False)
    except InfraRefused as exc:
        _err(f"refused: {exc}")
        raise typer.Exit(2) from None
    except EmbeddedStartError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    try:
        migrate_services(specs, infra.database_url)
    finally:
        infra.stop()
    typer.echo("migrations done.")


@app.command()
def token(
    role: Annotated[list[str], typer.Option("--role", help="Role to grant; repeat for several.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Org unit id of the principal [default: the demo org].")
    ] = None,
    org_path: Annotated[str, typer.Option("--org-path", help="Materialized org path; scope is its subtree.")] = "/",
    subject: Annotated[str, typer.Option("--subject", help="Token subject (user id).")] = "dev-user",
    ttl: Annotated[int, typer.Option("--ttl", min=1, max=7 * 24 * 3600, help="Lifetime in seconds.")] = 3600,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Print a development JWT signed with the local dev key (development only)."""
    env = os.environ.get("GOVPERF_ENV", "development")
    if env != "development":
        _err(f"refused: `govperf token` mints dev tokens only when GOVPERF_ENV=development (it is {env!r}).")
        raise typer.Exit(2)
    unknown = sorted(set(role) - KNOWN_ROLES)
    if unknown:
        _err(f"unknown role(s): {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}")
        raise typer.Exit(2)
    from shared.auth.devkeys import DEMO_ORG_UNIT_ID, ensure_dev_keys, mint_dev_token

    keys = ensure_dev_keys(data_dir.expanduser().resolve() / "keys")
    org_unit_id = org if org is not None else str(DEMO_ORG_UNIT_ID)
    typer.echo(
        mint_dev_token(keys, subject=subject, roles=role, org_unit_id=org_unit_id, org_path=org_path, ttl_seconds=ttl)
    )


@app.command()
def asyncapi(
    check: Annotated[bool, typer.Option("--check", help="Only compare; exit 1 when the document is stale.")] = False,
) -> None:
    """Regenerate contracts/asyncapi.json from every event payload model (or --check it)."""
    from shared.asyncapi import DOCUMENT_PATH, build_document, render, write_document

    if check:
        current = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
        if current != render(build_document()):
            _err(f"{DOCUMENT_PATH} is stale: run `govperf asyncapi`.")
            raise typer.Exit(1)
        typer.echo("asyncapi document is current.")
        return
    typer.echo(f"wrote {write_document()}")


@app.command()
def relay(service: Annotated[str, typer.Argument(help="Service whose outbox to relay.")]) -> None:
    """Run one service's outbox relay on its own (then start the service with GOVPERF_RUN_RELAY=false)."""
    try:
        spec = get_service(service)
    except KeyError as exc:
        _err(str(exc.args[0]))
        raise typer.Exit(2) from None
    database_url = service_database_url(spec, os.environ.get("GOVPERF_DATABASE_URL", ""))
    nats_url = os.environ.get("GOVPERF_NATS_URL")
    if not database_url or not nats_url:
        _err("set GOVPERF_DATABASE_URL and GOVPERF_NATS_URL: a standalone relay joins running servers")
        raise typer.Exit(2)
    asyncio.run(run_relay(spec, database_url, nats_url))


async def run_relay(spec: ServiceSpec, database_url: str, nats_url: str) -> None:
    """Relay until SIGTERM or Ctrl-C; several relays may run at once (rows are claimed with SKIP LOCKED)."""
    from shared.db import create_engine
    from shared.messaging.nats import connect, ensure_stream
    from shared.messaging.outbox import OutboxRelay

    tables = importlib.import_module(spec.module.rsplit(".", 1)[0] + ".db").TABLES
    engine = create_engine(database_url, pool_size=2)
    nc = await connect(nats_url, name=f"{spec.name}-relay")
    js = nc.jetstream()
    await ensure_stream(js, os.environ.get("GOVPERF_STREAM_NAME", "GOVPERF"))
    outbox_relay = OutboxRelay(engine, tables, js, service=spec.name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, outbox_relay.stop)
    typer.echo(f"relaying the {spec.schema} outbox to {_redact(nats_url)}; Ctrl-C stops")
    try:
        await outbox_relay.run()
    finally:
        await nc.drain()
        await engine.dispose()


class Progress:
    """Progress of long CLI work on stdout: a line per step, and for counted work a line at each
    tenth done (``1200/3000 (40%)``), so a log shows it as well as a terminal."""

    def __init__(self) -> None:
        self._steps = 0
        self._shown = -1

    def step(self, title: str) -> None:
        self._steps += 1
        self._shown = -1
        typer.echo(f"[{self._steps:>2}] {title}")

    def count(self, done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if tenth != self._shown:
            self._shown = tenth
            typer.echo(f"     {done}/{total} ({100 * done // max(total, 1)}%)")

    def note(self, text: str) -> None:
        typer.echo(f"     {text}")


@app.command()
def demo(
    gateway: Annotated[str, typer.Option(help="The running platform's gateway (`make run`).")] = GATEWAY_URL,
    responses: Annotated[int, typer.Option(min=50, max=100_000, help="Simulated survey responses.")] = 3000,
    province: Annotated[str, typer.Option(help="Code of the demo province (its org path).")] = "hx",
) -> None:
    """Drive a whole appraisal year through the gateway of a running platform; a second run changes nothing.

    Signs in as admin with GOVPERF_ADMIN_PASSWORD and creates everyone else."""
    import re

    import httpx

    from shared.demo.client import Actor, ApiError
    from shared.demo.year import Sizes, run_year, where_to_look

    admin_password = os.environ.get("GOVPERF_ADMIN_PASSWORD", "")
    if not admin_password:
        _err(
            "set GOVPERF_ADMIN_PASSWORD to the admin's password (the one `make run` was started with, or the one "
            "you set after the first start; see README, Tokens)."
        )
        raise typer.Exit(2)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,15}", province):
        _err("--province must be a short lowercase code, e.g. hx")
        raise typer.Exit(2)
    sizes = Sizes(
        province=province,
        survey_responses=responses,
        speeders=responses // 25,
        duplicates=responses // 50,
    )
    try:
        state = asyncio.run(
            run_year(
                gateway,
                admin=Actor("admin", admin_password),
                password_seed=admin_password,
                sizes=sizes,
                report=Progress(),
            )
        )
    except ApiError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    except httpx.TransportError as exc:
        _err(f"error: cannot reach the gateway at {gateway} ({type(exc).__name__}); is `make run` running?")
        raise typer.Exit(1) from None
    typer.echo("")
    for line in where_to_look(gateway, state):
        typer.echo(line)
    if state.missing:
        _err(f"The year stopped early: {state.missing}")
        raise typer.Exit(3)


audit_app = typer.Typer(help="Hash-chained audit logs.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    service: Annotated[str, typer.Argument(help="Service whose audit log to verify, e.g. appraisal.")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Recompute a service's audit chain; exit 1 naming the first broken entry."""
    try:
        spec = get_service(service)
    except KeyError as exc:
        _err(str(exc.args[0]))
        raise typer.Exit(2) from None
    chain = getattr(importlib.import_module(spec.module.rsplit(".", 1)[0] + ".db"), "AUDIT_LOG", None)
    if chain is None:
        _err(f"{service} keeps no audit log")
        raise typer.Exit(2)
    try:
        infra = start_infra(data_dir, specs=(spec,), with_nats=False)
    except InfraRefused as exc:
        _err(f"refused: {exc}")
        raise typer.Exit(2) from None
    try:
        result, chains = asyncio.run(_verify_chain(service_database_url(spec, infra.database_url), chain))
    finally:
        infra.stop()
    if not result.valid:
        _err(f"BROKEN at entry {result.first_broken_seq}: {result.problem} ({result.entries} intact before it)")
        raise typer.Exit(1)
    if chains is not None:
        typer.echo(f"ok: {result.entries} entries in {chains} chains")
    else:
        typer.echo(f"ok: {result.entries} entries, head {result.head_seq} {result.head_hash}")


async def _verify_chain(database_url: str, chain: object) -> tuple[Verification, int | None]:
    """The table's chain, or every chain of a keyed table (then also how many there are)."""
    import dataclasses

    from sqlalchemy import Table, select

    from shared.db import create_engine
    from shared.hashchain import Verification, is_keyed, verify

    assert isinstance(chain, Table)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if not is_keyed(chain):
                return await verify(conn, chain), None
            keys = (await conn.execute(select(chain.c.chain_key).distinct().order_by(chain.c.chain_key))).scalars()
            entries, count = 0, 0
            for key in list(keys):
                result = await verify(conn, chain, chain_key=key)
                if not result.valid:
                    return dataclasses.replace(result, problem=f"chain {key}: {result.problem}"), count
                entries, count = entries + result.entries, count + 1
            return Verification(True, entries, 0, ""), count
    finally:
        await engine.dispose()


def _add_dead_letters_commands() -> None:
    from shared.messaging.dead_letters_cli import app as dead_letters_app

    app.add_typer(dead_letters_app, name="dead-letters")


_add_dead_letters_commands()

if __name__ == "__main__":
    app()
