"""`cohost chat`: talk with the twin at the terminal, in private, and teach it by choosing.

Each line typed is answered through the whole turn (recall, simulation, fusion, guard); the
reply prints piece by piece as the voice would say it, then what was recalled and simulated.
Nothing goes to Twitch. When standard input is not a terminal, it is read line by line, so a
session can be scripted. Lines that start with `/` are the desk's own commands (`/help`).

Teaching (`--teach`, or `/teach`): for each prompt (the lines typed, or `--log FILE`'s viewer
lines, or `--seed FILE`'s openings) the desk shows 2-4 candidates, numbered, and reads a key:
1-4 picks one, b marks them all bad, w writes your own answer (on the same line, `w TEXT`, or
the next), u undoes the last choice, n skips to the next prompt, q stops. Choices are stored
under DATA_DIR/desk (`docs/desk.md`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cohost.app.settings import Settings
from cohost.core.errors import InputError

if TYPE_CHECKING:
    from cohost.app.desk import Desk, DeskPrompt

HELP = """\
/as LOGIN   speak as a viewer        /me       speak as yourself again
/teach      teach on what you type   /talk     back to talking
/forget     start the conversation afresh       /counts   what the desk holds
/undo       take back the last choice
/quit       stop (Ctrl-D too)
teaching: 1-4 pick, b all bad, w write (w TEXT), u undo, n next prompt, q stop"""


def register(subparsers: Any) -> None:
    """Add the `chat` command."""
    chat = subparsers.add_parser(
        "chat", help="talk with the twin in private, and teach it by choosing (nothing to Twitch)"
    )
    chat.add_argument(
        "--as", dest="login", metavar="LOGIN", help="speak as this viewer (default: yourself)"
    )
    chat.add_argument(
        "--teach", action="store_true", help="teach: candidates to choose from for each prompt"
    )
    prompts = chat.add_mutually_exclusive_group()
    prompts.add_argument(
        "--log", type=Path, metavar="FILE", help="teach on a chat log's viewer lines"
    )
    prompts.add_argument(
        "--seed", type=Path, metavar="FILE", help="teach on a seed file's openings (JSONL)"
    )
    chat.add_argument("--format", help="the log's format, when detection is not wanted")
    chat.add_argument(
        "--candidates",
        type=int,
        choices=(2, 3, 4),
        help="candidates per prompt (default: COHOST_DESK__CANDIDATES, 3)",
    )
    chat.add_argument(
        "--journal",
        type=Path,
        metavar="DIR",
        help="a folder of .tid files to recall from (default: DATA_DIR's)",
    )
    chat.add_argument(
        "--voice",
        action="store_true",
        help="write each spoken piece as a WAV file (DATA_DIR/desk/audio) and name it",
    )
    chat.add_argument(
        "--web",
        action="store_true",
        help="serve the desk page (/desk) on the web app's address, without a stream "
        "(needs COHOST_WEB__TOKEN)",
    )
    chat.set_defaults(handler=_chat)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    for given in (args.log, args.seed):
        if given is not None and not given.is_file():
            raise InputError("no such file", path=given)
    if args.journal is not None and not args.journal.is_dir():
        raise InputError("--journal: no such folder of .tid files", path=args.journal)
    settings, journal = _defaults(settings, args.journal)
    teach = args.teach or args.log is not None or args.seed is not None
    if args.web:
        return asyncio.run(_serve(settings, journal=journal, log=args.log, seed=args.seed))
    return asyncio.run(
        _run(
            settings,
            journal=journal,
            login=args.login,
            teach=teach,
            log=args.log,
            seed=args.seed,
            log_format=args.format,
            candidates=args.candidates,
            voice=args.voice,
            stdin=sys.stdin,
            stdout=sys.stdout,
        )
    )


def _defaults(settings: Settings, journal: Path | None) -> tuple[Settings, Path | None]:
    """With no twin configured: the demo's twin and its journal, and says so."""
    if settings.twin.name != "twin" or settings.twin.writings or settings.twin.chat_logs:
        return settings, journal
    from cohost.app.demo import DEMO_STREAMER, DEMO_TWIN, demo_files, with_demo_twin  # noqa: PLC0415

    print(
        f"cohost: no twin configured (COHOST_TWIN__*): talking to the demo twin {DEMO_TWIN}, "
        f"as its streamer {DEMO_STREAMER}.",
        file=sys.stderr,
    )
    return with_demo_twin(settings), journal or demo_files() / "journal"


class _Terminal:
    """Lines in (a terminal with a prompt, or any stream), text out."""

    def __init__(self, stdin: TextIO, stdout: TextIO) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty() and stdout.isatty()

    def say(self, text: str = "", *, end: str = "\n") -> None:
        self.stdout.write(text + end)
        self.stdout.flush()

    async def read(self, prompt: str) -> str | None:
        """The next line (without its end); None at the end of the input."""
        if self.interactive:
            self.say(prompt, end="")
        line = await asyncio.to_thread(self.stdin.readline)
        return None if not line else line.rstrip("\r\n")


async def _run(
    settings: Settings,
    *,
    journal: Path | None,
    login: str | None,
    teach: bool,
    log: Path | None,
    seed: Path | None,
    log_format: str | None,
    candidates: int | None,
    voice: bool,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    from cohost.app.desk import log_prompts, open_desk, seed_prompts  # noqa: PLC0415

    term = _Terminal(stdin, stdout)
    async with open_desk(settings, journal_folder=journal, speak=voice) as desk:
        mode = "teaching" if teach else "talking"
        who = login or desk.streamer
        term.say(
            f"cohost chat: {mode} with {desk.twin} ({desk.models.label}), as {who}; "
            "nothing goes to Twitch. /help lists the commands."
        )
        if log is not None or seed is not None:
            found = (
                log_prompts(log, settings, log_format=log_format)
                if log is not None
                else seed_prompts(seed)
                if seed is not None
                else iter(())
            )
            await _teach_prompts(desk, term, found, candidates)
            _counts(desk, term)
            return 0
        while (line := await term.read("> " if not teach else "teach> ")) is not None:
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                command, _, rest = text.partition(" ")
                if command in ("/quit", "/exit"):
                    break
                if command == "/help":
                    term.say(HELP)
                elif command == "/as" and rest.strip():
                    login = rest.strip()
                    term.say(f"· speaking as {login}")
                elif command == "/me":
                    login = None
                    term.say(f"· speaking as {desk.streamer}")
                elif command == "/teach":
                    teach = True
                    term.say("· teaching: each line you type gets candidates to choose from")
                elif command == "/talk":
                    teach = False
                    term.say("· talking")
                elif command == "/forget":
                    desk.forget()
                    term.say("· a fresh conversation")
                elif command == "/counts":
                    _counts(desk, term)
                elif command == "/undo":
                    undone = desk.undo()
                    _counts(desk, term, f"undid ({undone})" if undone else "nothing to undo")
                else:
                    term.say(f"· not a desk command: {command} (/help lists them)")
                continue
            if teach and text.lower() in ("u", "q"):
                if text.lower() == "q":
                    break
                undone = desk.undo()
                _counts(
                    desk, term, f"undid the last choice ({undone})" if undone else "nothing to undo"
                )
                continue
            try:
                if teach:
                    prompt = desk.typed_prompt(text, login=login)
                    if await _teach_one(desk, term, prompt, candidates) == "quit":
                        break
                else:
                    await _talk(desk, term, text, login, voice=voice)
            except InputError as exc:
                term.say(f"· {exc.located()}")
        return 0


async def _serve(
    settings: Settings, *, journal: Path | None, log: Path | None, seed: Path | None
) -> int:
    """The web app with the desk page, on loopback, until Ctrl-C."""
    import uvicorn  # noqa: PLC0415

    from cohost.app.daemon import allowed_hosts  # noqa: PLC0415
    from cohost.app.desk import DeskHome, open_desk  # noqa: PLC0415
    from cohost.core.errors import SettingsError  # noqa: PLC0415
    from cohost.core.net import is_loopback  # noqa: PLC0415
    from cohost.web.app import create_web_app  # noqa: PLC0415

    web = settings.web
    if web.token is None or not web.token.get_secret_value():
        raise SettingsError("the desk page needs a web token: set COHOST_WEB__TOKEN")
    if not is_loopback(web.host):
        print(
            f"cohost chat: the desk binds {web.host}, not loopback: anyone who can reach it is "
            "asked for the token (COHOST_WEB__HOST=127.0.0.1 keeps it on this machine)",
            file=sys.stderr,
        )
    async with open_desk(settings, journal_folder=journal) as desk:
        if log is not None or seed is not None:
            desk.teach_from(log=log, seed=seed)
        app = create_web_app(
            DeskHome(desk), token=web.token, allowed_hosts=allowed_hosts(web), desk=desk
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host=web.host, port=web.port, log_level="warning", lifespan="off")
        )
        host = f"[{web.host}]" if ":" in web.host else web.host
        print(
            f"cohost chat: the desk of {desk.twin} on http://{host}:{web.port}/desk "
            "(the first visit asks for the web token; /desk?token=… gives it once); Ctrl-C ends",
            flush=True,
        )
        await server.serve()
    return 0


async def _talk(desk: Desk, term: _Terminal, text: str, login: str | None, *, voice: bool) -> None:
    """One turn, its reply printed piece by piece, then what it recalled and simulated."""
    from cohost.app.desk import PIECE, REPLY  # noqa: PLC0415
    from cohost.core.bus_events import TurnRecalled, TurnSimulated  # noqa: PLC0415
    from cohost.core.serialise import read_bus_event  # noqa: PLC0415

    recalled: list[str] = []
    simulated: list[str] = []
    pieces: list[str] = []
    started = False
    async for topic, payload in desk.talk(text, login=login):
        if topic == PIECE:
            if not started:
                term.say(f"{desk.twin}: ", end="")
                started = True
            term.say(f"{payload['text']} ", end="")
            pieces.append(str(payload["text"]))
            if voice and payload.get("audio"):
                term.say(f"[{desk.audio / str(payload['audio'])}] ", end="")
            continue
        if topic == REPLY:
            reply = str(payload["reply"])
            if started:
                term.say()
                if reply and " ".join(pieces).split() != reply.split():
                    # the voice said less (a private entry's margin) or the guard changed it
                    term.say(f"   as it stands: {reply}")
            elif payload["outcome"] == "answered":
                term.say(f"{desk.twin}: {payload['reply']}")
            else:
                term.say(f"· no reply ({payload['outcome']}): {payload['reason']}")
            continue
        match read_bus_event(topic, payload):
            case TurnRecalled(hits=hits):
                # as the dashboard shows them: a private entry's title never
                recalled = [f"{h.title} ({h.tier})" for h in hits]
            case TurnSimulated(lines=lines):
                simulated = [f"{line.speaker}: {line.text}" for line in lines]
    if recalled:
        term.say(f"   recalled: {', '.join(recalled)}")
    if simulated:
        term.say(f"   simulated: {' | '.join(simulated)}")


async def _teach_prompts(
    desk: Desk, term: _Terminal, prompts: Iterator[DeskPrompt], n: int | None
) -> None:
    for prompt in prompts:
        if await _teach_one(desk, term, prompt, n) == "quit":
            return
    term.say("· no more prompts")


async def _teach_one(desk: Desk, term: _Terminal, prompt: DeskPrompt, n: int | None) -> str:
    """Show one prompt's candidates and take keys until a choice, a skip or a stop."""
    for message in prompt.window[-4:]:
        term.say(f"  {message.login}: {message.text}")
    shown = await desk.candidates(prompt, n)
    if not shown:
        term.say("· the twin has no reply to this one; n for the next")
    for i, candidate in enumerate(shown, 1):
        term.say(f"  {i}) {candidate.text}  [{candidate.model}]")
    keys = "/".join(["1-" + str(len(shown))] if shown else []) + " b w u n q"
    while (line := await term.read(f"{keys}> ")) is not None:
        key, _, rest = line.strip().partition(" ")
        key = key.lower()
        try:
            if key.isdigit() and 1 <= int(key) <= len(shown):
                desk.pick(prompt, shown, int(key) - 1)
                _counts(desk, term, f"picked {key}")
                return "next"
            if key == "b" and shown:
                desk.all_bad(prompt, shown)
                _counts(desk, term, "all bad")
                return "next"
            if key == "w":
                answer = rest.strip() or (await term.read("your answer> ") or "")
                desk.write(prompt, shown, answer)
                _counts(desk, term, "written")
                return "next"
        except InputError as exc:
            term.say(f"· {exc.located()}")
            continue
        if key == "u":
            undone = desk.undo()
            _counts(
                desk, term, f"undid the last choice ({undone})" if undone else "nothing to undo"
            )
            continue
        if key == "n":
            return "next"
        if key == "q":
            return "quit"
        term.say(f"· keys: {keys}")
    return "quit"


def _counts(desk: Desk, term: _Terminal, what: str = "") -> None:
    c = desk.counts()
    said = f"{what}; " if what else ""
    term.say(
        f"· {said}{c.pairs} pair(s), {c.examples} example(s) from {c.choices} choice(s) "
        f"({c.picked} picked, {c.bad} all bad, {c.written} written) in {desk.store.folder}"
    )
