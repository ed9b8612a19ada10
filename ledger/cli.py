"""The `ledger` command line (typer + rich). Configuration comes from the environment
(`LEDGER_DATABASE_URL`, `LEDGER_TIMEZONE`); results go to standard output, progress and
messages to standard error."""

from __future__ import annotations

import getpass
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.admin import SCOPES, Admin
from ledger.app import Ledger
from ledger.commands import Command, CommandError, parse_command_json, slug_id
from ledger.config import Settings
from ledger.domain import PLURALS, RECORD_CLASSES
from ledger.errors import DomainError

app = typer.Typer(
    help="The accountability ledger: record what officials promise, claim and do.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

out = Console(soft_wrap=True)
err = Console(stderr=True)


def principal() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as e:
        for problem in e.errors():
            err.print(
                f"[red]configuration:[/red] LEDGER_{str(problem['loc'][0]).upper()}: "
                f"{problem['msg']}"
            )
        raise typer.Exit(2) from None
    settings.ensure_local_dirs()
    return settings


@contextmanager
def open_ledger() -> Iterator[Ledger]:
    ledger = Ledger(_settings())
    try:
        yield ledger
    finally:
        ledger.close()


@contextmanager
def open_admin() -> Iterator[Admin]:
    admin = Admin(_settings())
    try:
        yield admin
    finally:
        admin.close()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def read_commands(path: Path) -> tuple[list[tuple[int, Command]], dict[int, str]]:
    """Parse every line of a command file: the commands with their line numbers, and each
    bad line's reason by line number."""
    commands: list[tuple[int, Command]] = []
    problems: dict[int, str] = {}
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                problems[number] = f"not UTF-8 text (byte {e.start + 1} of the line)"
                continue
            if not line.strip():
                continue
            try:
                commands.append((number, parse_command_json(line)))
            except CommandError as e:
                problems[number] = str(e)
    return commands, problems


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL commands")],
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Import only into a store with no events.")
    ] = False,
) -> None:
    """Apply a file of commands, one JSON object a line, all or nothing.

    Every line is checked first; if any is refused, each bad line is reported by number and
    reason and nothing is applied. Lines applied by an earlier run are skipped."""
    numbered, problems = read_commands(file)
    numbers = [n for n, _ in numbered]
    commands = [c for _, c in numbered]
    with open_ledger() as ledger:
        if if_empty and ledger.last_position():
            err.print(f"The store already holds events; {file} was not imported.")
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        )
        with progress:
            tasks = {
                "check": progress.add_task("checking", total=len(commands)),
                "write": progress.add_task("writing ", total=len(commands)),
            }

            def advance(phase: str, n: int) -> None:
                progress.advance(tasks[phase], n)

            try:
                result = ledger.import_commands(
                    commands, principal=principal(), progress=advance, dry_run=bool(problems)
                )
            except DomainError as e:
                raise fail(e.message) from None
            if not result.applied:
                progress.update(tasks["write"], visible=False)
        for index, field, message in result.errors:
            problems[numbers[index]] = f"{field}: {message}" if field else message
        if problems:
            for number in sorted(problems):
                err.print(f"[red]line {number}:[/red] {problems[number]}", highlight=False)
            raise fail(f"{len(problems)} bad line(s) in {file}; nothing was applied")
        err.print(
            f"applied {result.applied} command(s) ({result.events} events); "
            f"{result.skipped} already applied"
        )


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
) -> None:
    """Print the whole event log as JSON lines, in log order."""
    with open_ledger() as ledger:
        target = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            for line in ledger.export_lines():
                target.write(line + "\n")
        finally:
            if output:
                target.close()


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="an export")],
) -> None:
    """Load an export into an empty store, keeping positions, ids and who recorded what."""
    with open_ledger() as ledger, file.open(encoding="utf-8") as lines:
        try:
            count = ledger.restore(lines)
        except DomainError as e:
            raise fail(e.message) from None
    err.print(f"restored {count} events")


def _record_ref(kind: str, ref: str) -> tuple[str, UUID]:
    singular = {v: k for k, v in PLURALS.items()}.get(kind, kind)
    if singular not in RECORD_CLASSES:
        raise fail(f"unknown kind {kind!r}; one of {', '.join(RECORD_CLASSES)}", code=2)
    try:
        return singular, UUID(ref)
    except ValueError:
        return singular, slug_id(ref if "/" in ref else f"{singular}/{ref}")


@app.command()
def history(
    kind: Annotated[str, typer.Argument(help="commitment, claim, actor, ... (or plural)")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="a UUID or a slug")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Every event of one record, oldest first."""
    singular, uid = _record_ref(kind, record_id)
    with open_ledger() as ledger:
        try:
            events = ledger.history(singular, uid)
        except DomainError as e:
            raise fail(e.message) from None
    if as_json:
        for event in events:
            out.print(json.dumps(event, ensure_ascii=False), markup=False, highlight=False)
        return
    table = Table(title=f"{singular} {uid}")
    for column in ("pos", "version", "type", "occurred", "recorded at", "by", "what"):
        table.add_column(column)
    for event in events:
        table.add_row(
            str(event["position"]),
            str(event["version"]),
            event["type"],
            str(event["occurred_at"] or ""),
            event["recorded_at"][:19],
            event["recorded_by"],
            _gist(event["data"]),
        )
    out.print(table)


def _gist(data: dict[str, Any]) -> str:
    for name in ("status", "verdict", "summary", "name", "title", "field", "reason", "text"):
        if data.get(name):
            return f"{name}: {str(data[name])[:70]}"
    return ""


@app.command()
def summary() -> None:
    """What the store holds: records by kind, and each commitment's status and deadline."""
    with open_ledger() as ledger:
        counts: Counter[str] = Counter()
        commitments: list[UUID] = []
        for line in ledger.export_lines():
            event = json.loads(line)
            counts[event["type"]] += 1
            if event["type"] == "commitment.made":
                commitments.append(UUID(event["record"]["id"]))
        records = Table(title=f"{ledger.settings.database_url}: {sum(counts.values())} events")
        records.add_column("event type")
        records.add_column("count", justify="right")
        for wire, n in sorted(counts.items()):
            records.add_row(wire, str(n))
        out.print(records)
        board = Table(title="commitments")
        for column in ("kind", "status", "due", "text"):
            board.add_column(column)
        for uid in commitments:
            c: Any = ledger.get_record("commitment", uid)
            due = c.due or {}
            board.add_row(
                getattr(c, "kind", ""),
                getattr(c, "status", ""),
                f"{due.get('on', '')} ({due.get('text') or due.get('precision', '')})"
                if due
                else "",
                str(getattr(c, "summary", None) or getattr(c, "text", ""))[:80],
            )
        out.print(board)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="server processes")] = 1,
) -> None:
    """Serve the HTTP API on whatever store LEDGER_DATABASE_URL names. Followers and the
    deadline watcher run in the server (each held by one process at a time); set
    LEDGER_RUN_FOLLOWERS=false to leave them to `ledger worker`."""
    import uvicorn

    settings = _settings()
    Ledger(settings).close()  # create the tables once, before workers start
    err.print(f"serving {settings.database_url} at http://{host}:{port}/ (docs: /docs)")
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    poll: Annotated[float, typer.Option(help="seconds between looks at the log when idle")] = 0.5,
    watch_every: Annotated[
        float, typer.Option(help="seconds between deadline watcher runs")
    ] = 60.0,
    batch: Annotated[
        int | None,
        typer.Option(help="most events per follower transaction [default: 20,000]", min=1),
    ] = None,
) -> None:
    """Run the followers and the deadline watcher until stopped (SIGTERM or Ctrl-C).

    Several workers may run against one PostgreSQL store: each follower is held by one of
    them at a time, and another takes over when it dies."""
    import signal
    import threading
    from datetime import timedelta

    from projections.runner import BATCH, Followers, Runner
    from projections.watcher import DeadlineWatcher

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from ledger.admin import Admin
    from projections.outbox import Sender

    with open_ledger() as ledger:
        admin = Admin(ledger.settings)
        followers = Followers(ledger, admin=admin)
        watcher = DeadlineWatcher(ledger, followers.queries, ledger.clock)
        sender = Sender(
            followers.views["outbox"],
            admin,
            ledger.clock,
            allow_private=ledger.settings.webhook_allow_private,
            lease=timedelta(seconds=ledger.settings.webhook_lease),
        )
        followers.projections["outbox"].listeners.append(sender.wake.set)
        runner = Runner(
            followers,
            poll=poll,
            batch=batch or BATCH,
            jobs=[(watch_every, watcher.run_once)],
        )
        runner.start()
        sender.start(idle=1.0)
        err.print(f"worker following {ledger.settings.database_url}")
        try:
            while not stop.wait(1.0):
                pass
        finally:
            runner.stop()
            sender.close()
            followers.close()
            admin.close()
    err.print("worker stopped")


@app.command()
def rebuild(
    view: Annotated[
        str | None,
        typer.Argument(help="records, timeline, integrity or outbox; all but outbox if omitted"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a running worker")] = 600,
) -> None:
    """Replay views from the log. Safe while a server or worker runs: the view is emptied in
    one transaction, and whichever process holds it replays it from the start."""
    import time

    from projections.runner import (
        BULK_AFTER,
        FOLLOWERS,
        REBUILT_BY_DEFAULT,
        FollowerLock,
        Followers,
    )

    names = (view,) if view else REBUILT_BY_DEFAULT
    for name in names:
        if name not in FOLLOWERS:
            raise fail(f"unknown view {name!r}; one of {', '.join(FOLLOWERS)}", code=2)
    with open_ledger() as ledger:
        followers = Followers(ledger)
        head = ledger.last_position()
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
            ) as progress:
                for name in names:
                    followers.rebuild(name)
                    task = progress.add_task(f"rebuilding {name}", total=head)
                    lock = FollowerLock(ledger.settings.store, name)
                    if lock.try_acquire():

                        def advance(n: int, task: Any = task, name: str = name) -> None:
                            # A long replay ends by building the indexes queries read.
                            last = followers.position(name) >= head >= BULK_AFTER
                            what = (
                                f"building the indexes of {name}" if last else f"rebuilding {name}"
                            )
                            progress.update(task, advance=n, description=what)

                        try:
                            followers.catch_up((name,), progress=advance)
                        finally:
                            lock.release()
                    else:
                        # A running server or worker holds this view: watch it replay.
                        deadline = time.monotonic() + timeout
                        while followers.position(name) < head:
                            if time.monotonic() > deadline:
                                raise fail(f"{name} did not catch up within {timeout:.0f}s")
                            progress.update(task, completed=followers.position(name))
                            time.sleep(0.2)
                    progress.update(task, completed=head)
        finally:
            followers.close()
    err.print(f"rebuilt {', '.join(names)} up to position {head}")


@app.command()
def verify(
    url: Annotated[
        str | None, typer.Option(help="audit the ledger served at URL instead of this store")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="a checkpoint saved earlier (with --url)")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="the pinned verifier key, or a file holding it (--url)")
    ] = None,
    save: Annotated[bool, typer.Option(help="save the new checkpoint over the old")] = False,
) -> None:
    """Check that no stored event was edited, deleted, inserted or moved.

    Without --url: recompute every leaf and the root from this store's events, and check the
    latest signed checkpoint. With --url: from a checkpoint saved earlier, fetch the server's
    new checkpoint and a consistency proof, verify both with the pinned key only, and say
    whether history was only appended to."""
    from projections.runner import Followers
    from projections.verify import verify_local, verify_remote

    if url is not None:
        if checkpoint is None or key is None:
            raise fail("--url needs --checkpoint FILE and --key VKEY", code=2)
        pinned = Path(key).read_text().strip() if Path(key).is_file() else key
        verdict, new_note = verify_remote(url, checkpoint.read_text(), pinned)
        if verdict.ok and save and new_note:
            checkpoint.write_text(new_note)
    else:
        with open_ledger() as ledger:
            followers = Followers(ledger)
            followers.catch_up(("integrity",))
            with Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task("verify", total=ledger.last_position())

                def advance(n: int, total: int) -> None:
                    progress.advance(task, n)

                verdict = verify_local(ledger, followers, progress=advance)
            followers.close()
    if not verdict.ok:
        raise fail(verdict.message)
    err.print(f"[green]ok:[/green] {verdict.message}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="who or what uses the key")],
    scope: Annotated[str, typer.Option("--scope", help="reader, editor or admin")] = "editor",
) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    if scope not in SCOPES:
        raise fail(f"scope must be one of {', '.join(SCOPES)}", code=2)
    with open_admin() as admin:
        try:
            issued = admin.create_key(name=name, scope=scope, recorded_by=principal())
        except DomainError as e:
            raise fail(e.message) from None
    err.print(f"created {scope} key {name!r} ({issued.record.id}); it is shown only now:")
    print(issued.key)


def local_key_file(settings: Settings) -> Path:
    """Where `make serve` keeps the local editor key of a store."""
    store = settings.store
    if store.is_sqlite:
        path = Path(store.sqlite_path)
        return path.with_name(f"{path.stem}.editor-key")
    return Path("var") / f"{store.pg_dbname}-{store.pg_schema or 'public'}.editor-key"


@keys_app.command("local")
def keys_local() -> None:
    """Make sure this store has a local editor key in a file beside it; say where."""
    settings = _settings()
    file = local_key_file(settings)
    with open_admin() as admin:
        existing = [k for k in admin.list_keys() if k.name == "local-editor" and k.active]
        key = file.read_text().strip() if file.exists() else ""
        found = admin.authenticate(key) if key else None
        if not (found is not None and found.active and found.name == "local-editor"):
            for stale in existing:
                admin.revoke_key(str(stale.id), reason="replaced", recorded_by=principal())
            issued = admin.create_key(name="local-editor", scope="editor", recorded_by=principal())
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(issued.key + "\n")
            file.chmod(0o600)
    err.print(f"a local editor key is in {file}")


@keys_app.command("list")
def keys_list() -> None:
    """Every key: name, scope, when issued, and whether revoked. Keys themselves are never
    shown again."""
    with open_admin() as admin:
        keys = admin.list_keys()
    table = Table()
    for column in ("name", "scope", "hint", "issued", "by", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            k.name,
            k.scope,
            k.hint + "…",
            k.created_on.isoformat()[:19],
            k.issued_by,
            k.revoked_at.isoformat()[:19] if k.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="the key's name or id")],
    reason: Annotated[str, typer.Option("--reason")] = "revoked from the command line",
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    with open_admin() as admin:
        try:
            record = admin.revoke_key(name, reason=reason, recorded_by=principal())
        except DomainError as e:
            raise fail(e.message) from None
    err.print(f"revoked key {record.name!r}")


@keys_app.command("audit")
def keys_audit() -> None:
    """The admin-only audit trail: who issued and revoked which key, when."""
    with open_admin() as admin:
        for entry in admin.audit():
            out.print(json.dumps(entry, ensure_ascii=False), markup=False, highlight=False)


def main() -> None:
    app()
