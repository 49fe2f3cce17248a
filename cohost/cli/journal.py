"""`cohost journal add | import | export | serve` (and what the index adds: see EXTRA_MODULES)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cohost.app.paths import journal_dir
from cohost.app.settings import Settings
from cohost.core.errors import InputError, SettingsError
from cohost.core.net import is_loopback
from cohost.journal.io import export_json, export_tid_folder, import_into
from cohost.journal.store import JournalStore
from cohost.journal.tiers import tier_typos

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]

# More `journal` subcommands live in these modules, each with
# `register_journal_commands(journal_subparsers: Subparsers) -> None` that adds parsers and
# sets `handler=` on each (a Handler, as below). A module that is not there is skipped.
EXTRA_MODULES = ("cohost.cli.journal_index",)
NO_INDEX_HELP = "write the files only; the daemon or `cohost journal reindex` indexes them later"


def register(subparsers: Subparsers) -> None:
    """Add the `journal` command and its subcommands to the top-level CLI."""
    journal = subparsers.add_parser("journal", help="the streamer's journal (.tid files)")
    commands = journal.add_subparsers(dest="journal_command", metavar="SUBCOMMAND", required=True)

    add = commands.add_parser("add", help="write one entry")
    add.add_argument("text", help="what to write")
    add.add_argument(
        "--tag", action="append", default=[], help="one tag (repeatable), e.g. public or secret"
    )
    add.add_argument("--title", help="a title (default: the time, like TiddlyWiki's journal)")
    add.add_argument("--no-index", action="store_true", help=NO_INDEX_HELP)
    add.set_defaults(handler=_add)

    imp = commands.add_parser(
        "import", help="import a .tid folder, a TiddlyWiki JSON export or a single-file wiki"
    )
    imp.add_argument("path", type=Path)
    imp.add_argument(
        "--include-system", action="store_true", help="also import $:/ system tiddlers"
    )
    imp.add_argument("--no-index", action="store_true", help=NO_INDEX_HELP)
    imp.set_defaults(handler=_import)

    exp = commands.add_parser("export", help="write the journal for TiddlyWiki")
    exp.add_argument("path", type=Path, help="a folder (tid) or a .json file (json)")
    exp.add_argument(
        "--format",
        choices=("tid", "json"),
        help="default: json for a path ending in .json, else tid",
    )
    exp.set_defaults(handler=_export)

    serve = commands.add_parser("serve", help="the write-only journal page")
    serve.add_argument("--host", help="address to bind (default: journal.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: journal.port)")
    serve.set_defaults(handler=_serve)

    for module in EXTRA_MODULES:
        try:
            extra = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # Absent, or an optional dependency of it is: add, import and serve still work.
            if exc.name != module:
                log.warning("journal commands of %s unavailable: %s", module, exc)
            continue
        extra.register_journal_commands(commands)


def run_journal(argv: list[str], settings: Settings) -> int:
    """Run `cohost journal ARGV…` with these settings, as the top-level CLI would."""
    parser = argparse.ArgumentParser(prog="cohost")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["journal", *argv])
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except InputError as exc:
        print(f"cohost: {exc.located()}", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return 2


def _store(settings: Settings) -> JournalStore:
    return JournalStore(journal_dir(settings), settings.journal)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        entry = _store(settings).add(args.text, tags=args.tag, title=args.title)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    print(f"saved {entry.path} ({entry.tier})")
    for typo in tier_typos(args.tag, settings.journal):
        # saved all the same (files first), with the tier its tags give: said, so it is fixed
        print(f"cohost: {typo} (the entry is {entry.tier.value})", file=sys.stderr)
    if not args.no_index:
        _index_now(settings, [entry.id])
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    if not args.path.exists():
        raise InputError("no such file or folder", path=args.path)
    report = import_into(_store(settings), args.path, include_system=args.include_system)
    for problem in report.problems:
        print(f"skipped {problem.located()}", file=sys.stderr)
    print(
        f"imported {len(report.imported)}, duplicates {report.duplicates}, "
        f"system skipped {report.system}, binary skipped {report.binary}, "
        f"other files {report.other_files}, unreadable {len(report.problems)}"
    )
    if report.imported and not args.no_index:
        _index_now(settings, [entry.id for entry in report.imported])
    return 1 if report.problems else 0


def _index_now(settings: Settings, entry_ids: list[str]) -> None:
    """Index new entries at once, so `journal search` finds them; the files stand either way."""
    from cohost.app.journal_wiring import open_index  # noqa: PLC0415 (loads the embedder)
    from cohost.core.errors import JournalUnavailable  # noqa: PLC0415

    try:
        with open_index(settings) as index:
            chunks = sum(index.index_id(entry_id) for entry_id in entry_ids)
    except (JournalUnavailable, OSError) as exc:
        # a running daemon holds the index: it indexes new files itself
        print(
            f"cohost: saved, but not indexed yet ({exc}); a running daemon indexes it on its "
            "own, or run `cohost journal reindex`",
            file=sys.stderr,
        )
        return
    print(f"indexed {chunks} chunk{'' if chunks == 1 else 's'} (`cohost journal search` finds it)")


def _export(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    fmt = args.format or ("json" if args.path.suffix.lower() == ".json" else "tid")
    if fmt == "json":
        try:
            count = export_json(store, args.path)
        except FileExistsError as exc:
            raise InputError("exists; export refuses to overwrite it", path=args.path) from exc
    else:
        count = export_tid_folder(store, args.path)
    print(f"exported {count} entries to {args.path}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.journal.token
    if token is None or not token.get_secret_value():
        raise SettingsError(
            "the journal page needs a token before it will start: set COHOST_JOURNAL__TOKEN "
            "(in the environment or .env), e.g. to the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
        )
    host = args.host or settings.journal.host
    port = args.port if args.port is not None else settings.journal.port
    # Imported here: the page needs the `web` extra, the other subcommands do not.
    import uvicorn  # noqa: PLC0415

    from cohost.web.journal_page import create_journal_app  # noqa: PLC0415

    # the names the dashboard answers to (COHOST_WEB__ALLOWED_HOSTS) serve the page too;
    # none set: a page on loopback answers loopback names only
    app = create_journal_app(
        _store(settings), token, allowed_hosts=settings.web.allowed_hosts or None
    )
    if not is_loopback(host):
        print(
            f"warning: serving on {host}: anyone who can reach it sees the page; use HTTPS "
            "in front of it (a reverse proxy) so the token never crosses a network in clear",
            file=sys.stderr,
        )
    print(f"journal page on http://{host}:{port}/?token=… (open it once with your token)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
