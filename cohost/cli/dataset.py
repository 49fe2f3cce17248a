"""`cohost dataset build | cornell | dpo | seed`: training data for the twin, as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import itertools
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from cohost.app.build import build_models, dataset_options, writing_tiers
from cohost.app.settings import Settings, login_of, streamer_logins, with_bot_login
from cohost.chatlog import ChatLog, open_log
from cohost.cli.columns import add_columns_option, log_columns
from cohost.core.errors import InputError
from cohost.core.events import ChatEvent
from cohost.dataset.build import DatasetBuilder, DatasetMeta, read_meta, write_meta
from cohost.dataset.clean import RULE_HELP, RULES
from cohost.dataset.cornell import (
    CornellFiles,
    Corpus,
    choose_characters,
    film_examples,
    read_films,
    resolve_film,
)
from cohost.dataset.desk import EXAMPLES as DESK_EXAMPLES
from cohost.dataset.desk import PAIRS as DESK_PAIRS
from cohost.dataset.desk import read_desk_examples, read_desk_pairs
from cohost.dataset.dpo import PairReport, dpo_pairs, read_feedback
from cohost.dataset.jsonl import write_json, write_jsonl
from cohost.dataset.seed import (
    Opening,
    Skipped,
    continuation,
    continue_opening,
    read_openings,
    seed_prompt,
)
from cohost.dataset.spoken import SpokenLine, interleave, parse_start, read_transcript
from cohost.embedded.markov import MarkovSimulator, read_writings
from cohost.text.render import DEFAULT_FORMAT, ChatFormat, load_chat_format

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction

Handler = Callable[[argparse.Namespace, Settings], int]
_PROGRESS_EVERY = 4096  # events between progress-bar updates (tqdm calls are not free)


def register(subparsers: Subparsers) -> None:
    """Add the `dataset` command and its subcommands to the top-level CLI."""
    dataset = subparsers.add_parser("dataset", help="training data for the twin (JSON lines)")
    commands = dataset.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)

    build = commands.add_parser(
        "build", help="chat logs and writings as text-completion examples ({'text': ...})"
    )
    build.add_argument("logs", nargs="*", type=Path, help="chat logs (format detected)")
    build.add_argument(
        "--writings", action="append", type=Path, default=[], help="a .txt or .md file (repeatable)"
    )
    build.add_argument("--twin", help="the twin's login (default: settings twin.streamer)")
    build.add_argument(
        "--alias", action="append", default=[], help="another login of the twin (repeatable)"
    )
    build.add_argument(
        "--name", help="the name the twin's lines are rendered as (default: settings twin.name)"
    )
    build.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    build.add_argument("--report", type=Path, help="the JSON report (default: OUT.report.json)")
    build.add_argument("--window", type=int, help="lines per example (default: dataset.window)")
    build.add_argument("--format", help="the logs' format, when detection is not wanted")
    build.add_argument("--strict", action="store_true", help="stop at the first bad log line")
    add_columns_option(build)
    build.add_argument(
        "--rules",
        help=f"comma-separated rules to run (default: all of {','.join(RULES)})",
    )
    for rule in RULES:
        build.add_argument(
            f"--no-{rule}", action="store_true", help=f"keep {RULE_HELP[rule]} (rule {rule} off)"
        )
    build.add_argument(
        "--context-pattern",
        action="append",
        default=[],
        help="another regex of lines that lack context (repeatable)",
    )
    build.add_argument("--bot", action="append", default=[], help="another bot login (repeatable)")
    build.add_argument(
        "--desk",
        action="store_true",
        help="add the answers written at the twin's desk (DATA_DIR/desk/examples.jsonl)",
    )
    build.add_argument(
        "--transcript",
        type=Path,
        help="what the streamer said on the stream of the (one) chat log, from `cohost "
        "transcribe`: their spoken lines become the twin's, among the chat by time",
    )
    build.add_argument(
        "--transcript-start",
        help="when the recording began, on the log's clock: ISO 8601 (no zone: UTC) or seconds "
        "(default: the log's first event)",
    )
    _format_option(build)
    _progress_option(build)
    build.set_defaults(handler=_build)

    cornell = commands.add_parser(
        "cornell", help="Cornell Movie-Dialogs: chosen characters of chosen films as the twin"
    )
    cornell.add_argument("--corpus", type=Path, required=True, help="the corpus folder")
    cornell.add_argument("--lines", type=Path, help="the movie_lines file (default: found)")
    cornell.add_argument(
        "--conversations", type=Path, help="the movie_conversations file (default: found)"
    )
    cornell.add_argument(
        "--film", action="append", required=True, help="a title or id like m377 (repeatable)"
    )
    cornell.add_argument(
        "--character", action="append", required=True, help="a character's name (repeatable)"
    )
    cornell.add_argument("--twin", help="the name they are renamed to (default: twin.name)")
    cornell.add_argument("--window", type=int, help="lines per example (default: dataset.window)")
    cornell.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    _format_option(cornell)
    cornell.set_defaults(handler=_cornell)

    dpo = commands.add_parser("dpo", help="feedback as DPO pairs ({prompt, chosen, rejected})")
    dpo.add_argument(
        "--feedback",
        type=Path,
        help="the feedback file (default: DATA_DIR/feedback/feedback.jsonl)",
    )
    dpo.add_argument("--twin", help="the twin's rendered name (default: twin.name)")
    dpo.add_argument(
        "--alias",
        action="append",
        default=[],
        help="another account the twin spoke from live (its bot: COHOST_TWIN__BOT_LOGIN)",
    )
    dpo.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    dpo.add_argument(
        "--desk",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the pairs chosen at the twin's desk (DATA_DIR/desk/pairs.jsonl; default: yes)",
    )
    _format_option(dpo)
    dpo.set_defaults(handler=_dpo)

    seed = commands.add_parser(
        "seed", help="opening prompts of UltraChat-style conversations as windows ({prompt})"
    )
    seed.add_argument("conversations", type=Path, help='JSONL of {"messages": [...]}')
    seed.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    seed.add_argument("--twin", help="the twin's rendered name (default: twin.name)")
    seed.add_argument("--viewer", default="viewer", help="who asks, in the rendered chat")
    seed.add_argument("--max-chars", type=int, default=500, help="longer openings are skipped")
    seed.add_argument("--limit", type=int, help="at most this many prompts")
    seed.add_argument(
        "--continue",
        dest="continue_",
        action="store_true",
        help="let the simulator continue each prompt ({prompt, completion})",
    )
    seed.add_argument(
        "--writings",
        action="append",
        type=Path,
        default=[],
        help="the embedded simulator learns from these too (repeatable)",
    )
    _format_option(seed)
    seed.set_defaults(handler=_seed)


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chat-format",
        type=Path,
        help="the chat format TOML the twin is served with (default: prompts/chat.toml)",
    )


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar (default: when stderr is a terminal)",
    )


def _chat_format(args: argparse.Namespace) -> ChatFormat:
    path: Path | None = args.chat_format
    try:
        return load_chat_format(path) if path is not None else load_chat_format()
    except FileNotFoundError:
        if path is not None:
            raise InputError("no such chat format file", path=path) from None
        return DEFAULT_FORMAT  # an installed package without the prompts folder
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _rules(args: argparse.Namespace) -> frozenset[str]:
    if args.rules is not None:
        chosen = {r.strip() for r in args.rules.split(",") if r.strip()}
        unknown = chosen - set(RULES)
        if unknown:
            raise InputError(f"unknown rule(s) {sorted(unknown)}; known: {', '.join(RULES)}")
    else:
        chosen = set(RULES)
    return frozenset(r for r in chosen if not getattr(args, f"no_{r}"))


def _events(log: ChatLog, bar: tqdm[Any] | None) -> Iterator[ChatEvent]:
    done = 0
    for i, event in enumerate(log):
        if bar is not None and i % _PROGRESS_EVERY == 0:
            now = log.bytes_read
            bar.update(now - done)
            done = now
        yield event
    if bar is not None:
        bar.update(max(0, log.path.stat().st_size - done))


def _build(args: argparse.Namespace, settings: Settings) -> int:
    twin_login = args.twin or settings.twin.streamer
    if not twin_login:
        raise InputError("whose lines are the twin's? name the login: --twin NAME")
    logs: list[Path] = list(args.logs)
    writings: list[Path] = list(args.writings)
    if not logs and not writings and not args.desk:
        logs, writings = list(settings.twin.chat_logs), list(settings.twin.writings)
    if not logs and not writings and not args.desk:
        raise InputError("nothing to build from: give chat logs and/or --writings FILE (or --desk)")
    desk_examples = (
        _desk_examples(settings, args.name or settings.twin.name, _chat_format(args))
        if args.desk
        else []
    )
    if args.window is not None and args.window < 1:
        raise InputError("--window must be at least 1")
    rules = _rules(args)
    spoken: list[SpokenLine] = []
    start: float | None = None
    if args.transcript is not None:
        if len(logs) != 1:
            raise InputError(
                f"--transcript goes with one chat log (of its stream), not {len(logs)}"
            )
        spoken = read_transcript(args.transcript)
        if args.transcript_start is not None:
            start = parse_start(args.transcript_start)
    elif args.transcript_start is not None:
        raise InputError("--transcript-start needs --transcript")
    options = dataset_options(
        _with_twin_bot(settings),  # its own lines in the logs are left out
        logins=(twin_login, *args.alias),
        name=args.name,
        rules=rules,
        context_patterns=args.context_pattern,
        bots=args.bot,
        window=args.window,
        fmt=_chat_format(args),
    )
    try:
        builder = DatasetBuilder(options)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    columns = log_columns(args, settings)
    opened = [
        open_log(path, format=args.format, strict=args.strict, csv_columns=columns) for path in logs
    ]
    show = sys.stderr.isatty() if args.progress is None else args.progress
    total = sum(log.path.stat().st_size for log in opened if log.path.is_file())

    def examples() -> Iterator[dict[str, str]]:
        with tqdm(
            total=total, unit="B", unit_scale=True, desc="chat logs", disable=not show
        ) as bar:
            for log in opened:
                events = _events(log, bar if show else None)
                if args.transcript is not None:
                    events = interleave(events, spoken, login=login_of(twin_login), start=start)
                for text in builder.from_log(events, source=str(log.path)):
                    yield {"text": text}
        for path in writings:
            for text in builder.from_writing(
                read_writings([path], writing_tiers(settings)), source=str(path)
            ):
                yield {"text": text}
        for text in desk_examples:
            yield {"text": text}

    written = write_jsonl(args.out, examples())
    meta = DatasetMeta.rendered(options.twin, options.fmt)
    write_meta(args.out, meta)
    report_path: Path = args.report or args.out.with_name(args.out.name + ".report.json")
    data = builder.report.as_dict()
    data["rules_on"] = sorted(rules)
    data["twin"] = {"name": meta.twin, "logins": list(options.twin_logins)}
    data["window"] = options.window
    write_json(report_path, data)
    print(builder.report.table(rules))
    if args.transcript is not None:
        print(
            f"{len(spoken)} spoken line(s) of {args.transcript} among the chat, as {twin_login}'s"
        )
    if args.desk:
        print(f"{len(desk_examples)} answer(s) written at the twin's desk added")
    print(f"{written} example(s) -> {args.out}; report -> {report_path}")
    print(
        f"the twin's lines are rendered as {meta.twin!r}: serve the LoRA trained on them with "
        f"COHOST_TWIN__NAME={meta.twin} (--name changes it)"
    )
    if builder.report.messages and not any(builder.speakers[login] for login in builder.logins):
        # every example ends on a line of the twin's: a login that never speaks gives none
        given = [login_of(name) for name in (twin_login, *args.alias)]
        close = difflib.get_close_matches(given[0], list(builder.speakers), n=3)
        busiest = [login for login, _ in builder.speakers.most_common(3)]
        print(
            f"cohost: {', '.join(given)} never speak{'s' * (len(given) == 1)} in these logs; "
            f"logins like it: {', '.join(close) or 'none'}; the busiest: {', '.join(busiest)} "
            "(--twin names the streamer's login)",
            file=sys.stderr,
        )
        return 1
    return 0


def _cornell(args: argparse.Namespace, settings: Settings) -> int:
    files = CornellFiles.find(args.corpus, lines=args.lines, conversations=args.conversations)
    films = read_films(files.titles)
    chosen = list({f.id: f for f in (resolve_film(films, name) for name in args.film)}.values())
    corpus = Corpus.load(files, [f.id for f in chosen])
    characters = choose_characters(corpus, chosen, args.character)
    twin = args.twin or settings.twin.name
    window = args.window if args.window is not None else settings.dataset.window
    if window < 1:
        raise InputError("--window must be at least 1")
    fmt = _chat_format(args)
    records: list[dict[str, str]] = []
    rows: list[str] = []
    for film in chosen:  # every film is checked before anything is written
        examples, from_conversations = film_examples(
            corpus, film, characters[film.id], twin, window=window, fmt=fmt
        )
        records += ({"text": text} for text in examples)
        names = ", ".join(sorted(characters[film.id].values()))
        scenes = "conversations" if from_conversations else "script order (no conversations)"
        rows.append(
            f"{film.id:<6} {film.title:<32} {names}: {len(examples)} example(s), scenes from "
            + scenes
        )
    written = write_jsonl(args.out, records)
    write_meta(args.out, DatasetMeta.rendered(twin, fmt))
    print("\n".join(rows))
    print(f"{written} example(s) -> {args.out} (as {twin})")
    return 0


def twin_bot_login(settings: Settings) -> str:
    """The account the twin posts from: as set, else the Twitch bot's, else its stored token's.

    Offline (building data), nothing has filled it in from the token as the daemon does live.
    """
    login = next((login_of(n) for n in (settings.twin.bot_login, settings.twitch.bot_login)
                  if n.strip()), "")  # fmt: skip
    if not login:
        from cohost.adapters.twitch_tokens import AuthError, TokenStore  # noqa: PLC0415 (keeps --help fast)

        try:
            token = TokenStore.in_data_dir(settings.data_dir).load("bot")
        except (AuthError, OSError):  # no token, or one this user may not read
            return ""
        login = login_of(token.login) if token is not None else ""
    # a bot on the streamer's own account: live, its lines are the streamer's (see the daemon)
    return "" if login in streamer_logins(settings) else login


def _with_twin_bot(settings: Settings) -> Settings:
    """The settings with the twin's bot account filled in as `twin_bot_login` finds it."""
    login = twin_bot_login(settings)
    if not login or login == settings.twin.bot_login:
        return settings
    return with_bot_login(settings, login)


def _desk_file(settings: Settings, name: str, twin: str, fmt: ChatFormat) -> Path | None:
    """A file of the twin's desk, checked to be rendered for `twin` in `fmt`; None when there
    is none."""
    path = settings.data_dir / "desk" / name
    if not path.is_file():
        return None
    meta = read_meta(path)
    wanted = DatasetMeta.rendered(twin, fmt)
    if meta is not None and meta.twin != wanted.twin:
        raise InputError(
            f"the desk's choices were rendered for the twin {meta.twin!r}, not {wanted.twin!r}: "
            f"use --twin {meta.twin} (or leave the desk out)",
            path=path,
        )
    if meta is not None and meta.header != wanted.header:
        raise InputError(
            "the desk's choices were rendered in another chat format than --chat-format: "
            "leave the desk out, or the format at its default",
            path=path,
        )
    return path


def _desk_examples(settings: Settings, twin: str, fmt: ChatFormat) -> list[str]:
    path = _desk_file(settings, DESK_EXAMPLES, twin, fmt)
    if path is None:
        return []
    examples, unreadable = read_desk_examples(path)
    if unreadable:
        log.warning("%s: %d unreadable line(s) skipped", path, unreadable)
    return examples


def _dpo(args: argparse.Namespace, settings: Settings) -> int:
    twin = args.twin or settings.twin.name
    path: Path = args.feedback or settings.data_dir / "feedback" / "feedback.jsonl"
    fmt = _chat_format(args)
    desk = _desk_file(settings, DESK_PAIRS, twin, fmt) if args.desk else None
    if not path.is_file() and (args.feedback is not None or desk is None):
        raise InputError(
            "no feedback file here yet (`!twin good|bad` writes it; so does the desk: "
            "`cohost chat --teach`)",
            path=path,
        )
    records, unreadable = read_feedback(path) if path.is_file() else ([], 0)
    # the prompt exactly as the twin model saw it live: there the twin speaks from its bot
    # account, and the streamer is a chatter like any other
    bot = twin_bot_login(settings)
    if not bot and not args.alias:
        log.warning(
            "the twin's bot account is not known (COHOST_TWIN__BOT_LOGIN, or `cohost auth`): "
            "its own lines in the windows render as a viewer's"
        )
    logins = [login for login in (bot, *args.alias) if login]
    report = PairReport(unreadable=unreadable)
    pairs: Iterable[dict[str, str]] = dpo_pairs(
        records, twin, fmt=fmt, twin_logins=logins, report=report
    )
    from_desk: list[dict[str, str]] = []
    if desk is not None:
        from_desk, bad = read_desk_pairs(desk)
        if bad:
            log.warning("%s: %d unreadable line(s) skipped", desk, bad)
        pairs = _once(itertools.chain(pairs, from_desk))
    written = write_jsonl(args.out, pairs)
    write_meta(args.out, DatasetMeta.rendered(twin, fmt))
    rules = ", ".join(f"{rule} {n}" for rule, n in report.by_rule.items())
    print(
        f"{report.records} verdict(s) on {report.prompts} prompt(s), {unreadable} unreadable; "
        f"{written} pair(s) ({rules}); {report.unpaired_bad} bad reply(ies) had nothing to "
        f"pair with; {report.good_without_pair} good reply(ies) had nothing to beat"
    )
    if desk is not None:
        print(f"{len(from_desk)} pair(s) chosen at the twin's desk ({desk}) added")
    print(f"-> {args.out}")
    return 0


def _once(pairs: Iterable[dict[str, str]]) -> Iterator[dict[str, str]]:
    """Each (prompt, chosen, rejected) once, in order."""
    seen: set[tuple[str, str, str]] = set()
    for pair in pairs:
        key = (pair["prompt"], pair["chosen"], pair["rejected"])
        if key not in seen:
            seen.add(key)
            yield pair


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    twin = args.twin or settings.twin.name
    fmt = _chat_format(args)
    openings: list[Opening] = []
    skipped: Counter[str] = Counter()
    first: dict[str, int] = {}  # each reason's first line
    for item in read_openings(args.conversations, viewer=args.viewer, max_chars=args.max_chars):
        if isinstance(item, Skipped):
            skipped[item.reason] += 1
            first.setdefault(item.reason, item.line)
            continue
        if args.limit is not None and len(openings) >= args.limit:
            break
        openings.append(item)
    records: list[dict[str, str]] = []
    if not args.continue_:
        records = [{"prompt": seed_prompt(o, twin, fmt=fmt)} for o in openings]
    elif openings:
        records, empty = asyncio.run(_continued(openings, twin, fmt, settings, args.writings))
        if empty:
            skipped[SILENT] += empty
    written = write_jsonl(args.out, records)
    print(f"{written} prompt(s) -> {args.out}; {sum(skipped.values())} skipped")
    for reason, count in skipped.most_common():
        at = f"{args.conversations}:{first[reason]}: " if reason in first else ""
        print(f"  {count} x {at}{reason}", file=sys.stderr)
    return 0 if written or not skipped else 1


SILENT = "the simulator gave the twin no line"


async def _continued(
    openings: list[Opening], twin: str, fmt: ChatFormat, settings: Settings, writings: list[Path]
) -> tuple[list[dict[str, str]], int]:
    models = build_models(settings, streamer_lines=read_writings(writings, writing_tiers(settings)))
    if isinstance(models.simulator, MarkovSimulator) and not models.simulator.trained:
        raise InputError(
            "--continue needs a twin that can talk: the embedded simulator has nothing to learn "
            "from; give --writings FILE (the streamer's own lines), or set COHOST_SIMULATOR__URL"
        )
    records: list[dict[str, str]] = []
    empty = 0
    for opening in openings:
        lines = await continue_opening(
            models.simulator, opening, twin, max_lines=settings.simulator.max_lines
        )
        text = continuation(lines, twin, fmt=fmt)
        if not text:
            empty += 1
            continue
        records.append({"prompt": seed_prompt(opening, twin, fmt=fmt), "completion": text})
    return records, empty
