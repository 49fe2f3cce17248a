"""`!twin` commands: parse, check permission and cooldown, apply to the state or the actions, audit.

One `Controller` serves chat, the MQTT control topic and the dashboard; each caller says who is
asking (login and role) and where from. Replies are short texts the daemon posts back.
Choices (as moderators know them from Nightbot and Streamer.bot):
- Refusals for permission or cooldown are silent in chat (`reply=None`, the reason is in the
  result and the audit log), as Nightbot does: a viewer poking at mod commands gets no echo.
- Unknown or malformed commands get a usage reply; from chat at most one per
  `usage_reply_interval_s` overall, so a flood of bad commands cannot flood chat.
- Words after a command that takes none, or after a switch's on|off, are ignored:
  `!twin pause please` pauses. A pause must never fail on how politely it was asked.
- A few aliases (`stop`, `off`, `mute`…) name the same commands; the audit log names the command.
- Cooldowns: one per command shared by everyone, one per command and person; only accepted
  commands start them, and `cooldown_bypass` and up (moderators, by default) skip both.
- approve, reject, good and bad answer the dashboard and the audit log, not chat, unless
  `acks_in_chat`; `bad` never repeats the line chat just judged bad.
- A command beyond the built-in vocabulary is an `AddedCommand`, given to the controller once:
  it is parsed, permitted, cooled down and audited like the built-ins, wherever it comes from.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, cast

from cohost.core.events import Role
from cohost.core.options import (
    CONTROL_COMMANDS,
    DEFAULT_COOLDOWNS_S,
    DEFAULT_PERMISSIONS,
    ControlSettings,
    PermissionLevel,
)
from cohost.core.ports import Clock
from cohost.core.serialise import json_line
from cohost.core.state import TwinState

log = logging.getLogger(__name__)

Source = Literal["chat", "mqtt", "dashboard"]
Verdict = Literal["good", "bad"]

# What each command takes, shown as its usage line.
USAGE: dict[str, str] = {
    "pause": "pause",
    "resume": "resume",
    "voice": "voice on|off",
    "chat": "chat on|off",
    "hold": "hold on|off",
    "approve": "approve [N]",
    "reject": "reject",
    "skip": "skip",
    "say": "say TEXT",
    "ask": "ask QUESTION",
    "topic": "topic [TEXT]",
    "rate": "rate N|default",
    "forget": "forget [me|@USER]",
    "note": "note TEXT",
    "good": "good",
    "bad": "bad",
    "ignore": "ignore USER",
    "unignore": "unignore USER",
    "status": "status",
    "help": "help [COMMAND]",
}

# What each command does, for `!twin help COMMAND` and the commands page.
DESCRIPTIONS: dict[str, str] = {
    "pause": "the twin stops answering (the reply on its way is cut) until resume",
    "resume": "the twin answers chat again after a pause",
    "voice": "the twin speaks its replies out loud, or stays silent (off stops speech now)",
    "chat": "the twin posts its replies in chat, or only speaks them",
    "hold": "replies wait for approval on the dashboard before they go out",
    "approve": "the held reply (or its candidate N) goes out",
    "reject": "the held reply is dropped",
    "skip": "cuts the reply being made or said now",
    "say": "the twin says this text, in chat and out loud",
    "ask": "the twin answers this question now",
    "topic": "sets what the stream is about (helps the twin pick and recall); empty clears it",
    "rate": "at most N replies a minute; default goes back to the settings",
    "forget": "the twin forgets the recent chat; `forget me` (anyone) erases all cohost keeps "
    "about you, `forget @USER` (moderators) about them (a known chatter needs no @)",
    "note": "adds a private journal entry the twin can recall",
    "good": "marks the twin's last reply as a good example",
    "bad": "marks the twin's last reply as a bad example (it is not repeated)",
    "ignore": "the twin never answers this person",
    "unignore": "the twin may answer this person again",
    "status": "what the twin is doing: switches, turns, held replies",
    "help": "lists the commands you may use, or says what one does",
}

# Other names for commands, as other chat bots use them: alias -> (command, its argument).
ALIASES: dict[str, tuple[str, str]] = {
    "stop": ("pause", ""),
    "off": ("pause", ""),
    "unpause": ("resume", ""),
    "start": ("resume", ""),
    "on": ("resume", ""),
    "mute": ("voice", "off"),
    "unmute": ("voice", "on"),
    "next": ("skip", ""),
    "commands": ("help", ""),
}

MAX_RATE = 60
_LOGIN = re.compile(r"[a-z0-9_]{1,25}")
_NUMBER = re.compile(r"[0-9]{1,3}")  # ASCII only: int() would also read other scripts' digits
# Words after these are ignored ("!twin pause please"): they take nothing.
_NO_ARGS = frozenset({"pause", "resume", "skip", "good", "bad", "status", "reject"})
# `!twin forget me`: anyone may have cohost erase what it keeps about them.
FORGET_ME = "me"
# Acknowledgements that go to the dashboard and the audit log, not chat (`acks_in_chat`).
_QUIET = frozenset({"approve", "reject", "good", "bad"})
MAX_CANDIDATES = 4  # as `turn.candidates` allows
_NEEDS_TEXT = frozenset({"say", "ask", "note"})
_SWITCH = {"on": True, "off": False}
_ADDED_NAME = re.compile(r"[a-z][a-z0-9_]{0,24}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedCommand:
    """A `!twin` line taken apart: the verb, its argument, or what is wrong with it."""

    name: str  # the verb, lowercased ("" when none was given)
    args: str  # the argument as normalised for the command ("" when none)
    usage: str  # the usage line to show for this command (or for all of them)
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """What a command did: accepted or refused, why, and the short reply for chat (if any)."""

    accepted: bool
    command: str
    reply: str | None
    reason: str
    in_chat: bool = True  # False: the reply is for the dashboard and the audit log only


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandInfo:
    """One command as `help` and the commands page show it: usage, who may, cooldowns, aliases."""

    name: str
    usage: str  # with the prefix: "!twin voice on|off"
    description: str
    level: PermissionLevel  # the lowest role that may use it
    cooldown_s: float  # shared by everyone
    user_cooldown_s: float  # per person, on top
    aliases: tuple[str, ...] = ()  # other names, with the prefix: ("!twin stop", ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rated:
    """A verdict stored on a reply: which reply, and the verdict it had before (if any)."""

    turn_id: str
    previous: Verdict | None = None


class TwinActions(Protocol):
    """What commands do beyond flipping `TwinState`; the session (`cohost.session`) does it."""

    async def skip(self, reason: str) -> bool:
        """Cancel the running turn and stop speech now; True if anything was running."""
        ...

    async def say(self, text: str) -> str | None:
        """Post (and speak) this text as the twin; or why not now (too many still waiting)."""
        ...

    async def silence(self) -> None:
        """Stop speech now and for the rest of the running turn (`voice off`)."""
        ...

    async def ask(self, question: str, *, login: str) -> None:
        """Answer this question now, as a turn."""
        ...

    def forget(self) -> None:
        """Clear the recent chat window."""
        ...

    def forget_chatter(self, login: str) -> bool:
        """Erase what cohost keeps about this chatter; whether it kept anything. OSError when
        a file that keeps them could not be rewritten (they are then still in it)."""
        ...

    async def approve_held(self, choice: int, *, login: str) -> tuple[bool, str]:
        """Send candidate `choice` (from 0) of the newest held reply; whether it went, and why."""
        ...

    async def reject_held(self, *, login: str) -> tuple[bool, str]:
        """Drop the newest held reply; whether there was one, and what happened."""
        ...

    async def note(self, text: str) -> str:
        """Add a journal entry; returns its title."""
        ...

    def feedback(self, verdict: Verdict, *, login: str) -> Rated | None:
        """Record feedback on the last reply; which it was, or None when there is none."""
        ...

    def status(self) -> str:
        """A short line about the running daemon (turns, last reply, health)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandCall:
    """One use of an added command: its argument, who asked, and what it may steer."""

    args: str  # "" for a command that takes none
    login: str
    role: Role
    state: TwinState
    actions: TwinActions


@dataclass(frozen=True, slots=True, kw_only=True)
class AddedCommand:
    """A `!twin` command beyond the built-in vocabulary, with who may use it.

    `run` does its work through the same state and actions as the built-ins (the session's,
    live or in a replay) and returns the reply for chat, or None for none.
    """

    name: str
    usage: str  # its usage line after the prefix: "shout TEXT"
    run: Callable[[CommandCall], Awaitable[str | None]]
    level: PermissionLevel = "moderator"
    cooldown_s: float = 0.0
    takes_text: bool = False  # True: it needs an argument; False: it takes none (extra words
    # are ignored, as for the built-ins)
    description: str = ""  # what it does, for `!twin help NAME`


def _usage_line(
    prefix: str, name: str | None = None, added: Mapping[str, AddedCommand] | None = None
) -> str:
    added = added or {}
    if name is None:
        return f"usage: {prefix} " + "|".join((*CONTROL_COMMANDS, *added))
    return f"usage: {prefix} {USAGE[name] if name in USAGE else added[name].usage}"


def parse_command(
    text: str, prefix: str = "!twin", added: Mapping[str, AddedCommand] | None = None
) -> ParsedCommand | None:
    """Take a `!twin …` line apart; None when the text is not a command at all."""
    added = added or {}
    stripped = text.strip()
    head = stripped[: len(prefix)]
    if not prefix or head.lower() != prefix.lower():
        return None
    rest = stripped[len(prefix) :]
    if rest and not rest[0].isspace():
        return None  # "!twinkle" is someone else's command
    parts = rest.split(maxsplit=1)
    if not parts:
        usage = _usage_line(prefix, added=added)
        return ParsedCommand(name="", args="", usage=usage, error="no command given")
    name = parts[0].lower()
    raw = " ".join(parts[1].split()) if len(parts) > 1 else ""
    if name in ALIASES and name not in added:
        name, implied = ALIASES[name]
        raw = implied or raw
    if name not in USAGE and name not in added:
        # never echoed: a reply that repeats a viewer's words lets anyone make the bot say them
        return ParsedCommand(
            name=name, args=raw, usage=_usage_line(prefix, added=added), error="unknown command"
        )
    usage = _usage_line(prefix, name, added)

    def bad(error: str) -> ParsedCommand:
        return ParsedCommand(name=name, args=raw, usage=usage, error=error)

    args = raw
    first = raw.split(" ", 1)[0].lower()  # what a switch or a number reads; the rest is chatter
    if name in added:
        if added[name].takes_text and not raw:
            return bad(f"{name} needs some text")
        return ParsedCommand(name=name, args=raw if added[name].takes_text else "", usage=usage)
    if name in _NO_ARGS:
        args = ""
    elif name in _NEEDS_TEXT:
        if not raw:
            return bad(f"{name} needs some text")
    elif name in ("voice", "chat", "hold"):
        args = first
        if args not in _SWITCH:
            return bad(f"{name} takes on or off")
    elif name == "rate":
        args = first
        if args != "default" and not (_NUMBER.fullmatch(args) and int(args) <= MAX_RATE):
            return bad(f"rate takes a number from 0 to {MAX_RATE}, or default")
        if args != "default":
            args = str(int(args))
    elif name == "approve":
        args = first or "1"
        if not (_NUMBER.fullmatch(args) and 1 <= int(args) <= MAX_CANDIDATES):
            return bad(f"approve takes a candidate's number, 1 to {MAX_CANDIDATES}")
        args = str(int(args))
    elif name == "forget":
        # one word naming someone: them (`@` kept: surely a user); more words are chatter
        word = raw.lower()
        login = word.removeprefix("@")
        args = word if " " not in raw and _LOGIN.fullmatch(login) else ""
    elif name in ("ignore", "unignore"):
        args = raw.removeprefix("@").lower()
        if not _LOGIN.fullmatch(args):
            return bad(f"{name} takes one Twitch login")
    elif name == "help":
        args = first
        if args in ALIASES and args not in added:
            args = ALIASES[args][0]
        if args and args not in USAGE and args not in added:
            return bad("no such command")
    return ParsedCommand(name=name, args=args, usage=usage)


class Controller:
    """Handles `!twin` commands from every source with one permission model and one audit log."""

    def __init__(
        self,
        settings: ControlSettings,
        state: TwinState,
        actions: TwinActions,
        clock: Clock,
        audit_path: Path | None,
        *,
        added: Sequence[AddedCommand] = (),
        broadcaster: str | None = None,
    ) -> None:
        self.settings = settings
        # the channel's owner: steers the twin, and no moderator may make it ignore them
        self.broadcaster = (broadcaster or "").lstrip("#").lower()
        self.state = state
        self.actions = actions
        self.clock = clock
        self.audit_path = audit_path
        self.added: dict[str, AddedCommand] = {}
        for command in added:
            if not _ADDED_NAME.fullmatch(command.name):
                raise ValueError(f"an added command's name is one lowercase word: {command.name!r}")
            if command.name in USAGE or command.name in ALIASES or command.name in self.added:
                raise ValueError(f"!twin {command.name} is already a command")
            self.added[command.name] = command
        self._last_used: dict[str, float] = {}
        self._last_used_by: dict[tuple[str, str], float] = {}  # (command, login) -> when
        self._last_usage_reply: float | None = None
        self.accepted = 0
        self.refused = 0
        self.audit_failures = 0

    def required_role(self, command: str) -> Role:
        """The lowest role that may use this command."""
        if command in self.added:
            return Role[self.added[command].level.upper()]
        level = self.settings.permissions.get(
            command, DEFAULT_PERMISSIONS.get(command, "moderator")
        )
        return Role[level.upper()]

    def cooldown_s(self, command: str) -> float:
        """Seconds between two uses of this command."""
        if command in self.added:
            return self.added[command].cooldown_s
        return self.settings.cooldowns_s.get(command, DEFAULT_COOLDOWNS_S.get(command, 0.0))

    def user_cooldown_s(self, command: str) -> float:
        """Seconds between two uses of this command by the same person."""
        return self.settings.user_cooldowns_s.get(command, 0.0)

    def _cooling(self, command: str, login: str, role: Role, now: float) -> str | None:
        """Why this use must wait, or None when it need not."""
        if role >= Role[self.settings.cooldown_bypass.upper()]:
            return None
        left = 0.0
        if (last := self._last_used.get(command)) is not None:
            left = self.cooldown_s(command) - (now - last)
        if (mine := self._last_used_by.get((command, login))) is not None:
            left = max(left, self.user_cooldown_s(command) - (now - mine))
        return f"cooling down ({left:.1f} s left)" if left > 0 else None

    def commands(self) -> list[CommandInfo]:
        """Every command this controller knows, built-in then added: what `help` lists and
        the web app's commands page shows, from this one table."""
        prefix = self.settings.prefix
        found = []
        for name in (*USAGE, *self.added):
            added = self.added.get(name)
            if added is not None:
                usage, said = added.usage, added.description or "a command of this channel"
            else:
                usage, said = USAGE[name], DESCRIPTIONS[name]
            also = tuple(
                f"{prefix} {a}"
                for a, (c, _) in ALIASES.items()
                if c == name and a not in self.added
            )
            found.append(
                CommandInfo(
                    name=name,
                    usage=f"{prefix} {usage}",
                    description=said,
                    level=cast(PermissionLevel, self.required_role(name).name.lower()),
                    cooldown_s=self.cooldown_s(name),
                    user_cooldown_s=self.user_cooldown_s(name),
                    aliases=also,
                )
            )
        return found

    def describe(self, command: str) -> str:
        """What a command does, its usage and its other names, in one line."""
        info = next(c for c in self.commands() if c.name == command)
        line = f"{info.usage}: {info.description}"
        return line + (f" (also {', '.join(info.aliases)})" if info.aliases else "")

    def refuse_unverified(
        self, text: str, *, source: Source, claimed: str, reason: str
    ) -> CommandResult:
        """Refuse and audit a command whose sender was not verified (e.g. a badly signed MQTT one).

        Logged as `unverified`, never as the name it claimed: that name is the forger's word.
        """
        parsed = parse_command(text, self.settings.prefix, self.added) or ParsedCommand(
            name="", args="", usage=""
        )
        result = CommandResult(
            accepted=False,
            command=parsed.name,
            reply=None,
            reason=f"sender not verified (claims {claimed!r}): {reason}",
        )
        return self._finish(result, parsed, login="unverified", role=Role.EVERYONE, source=source)

    async def handle(
        self, text: str, *, login: str, role: Role, source: Source
    ) -> CommandResult | None:
        """Run one command line; None when the text is not a command."""
        parsed = parse_command(text, self.settings.prefix, self.added)
        if parsed is None:
            return None
        login = login.lower()
        # Permission before arguments: a viewer's malformed mod command is refused in silence,
        # never answered with a usage line. An unknown verb needs what `help` needs.
        known = parsed.name in USAGE or parsed.name in self.added
        needed = self.required_role(parsed.name if known else "help")
        if parsed.name == "forget" and parsed.args == FORGET_ME:
            needed = Role.EVERYONE  # erasing oneself is every viewer's right
        if role < needed:
            result = CommandResult(
                accepted=False,
                command=parsed.name,
                reply=None,
                reason=f"needs {needed.name.lower()}, {login} is {role.name.lower()}",
            )
            return self._finish(result, parsed, login=login, role=role, source=source)
        if parsed.error is not None:
            # what was wrong first: a bare usage line leaves the moderator guessing
            said = f"{parsed.error}; {parsed.usage}"
            reply = said if self._may_reply_usage(source) else None
            result = CommandResult(
                accepted=False, command=parsed.name, reply=reply, reason=parsed.error
            )
            return self._finish(result, parsed, login=login, role=role, source=source)
        now = self.clock.now()
        if (cooling := self._cooling(parsed.name, login, role, now)) is not None:
            result = CommandResult(accepted=False, command=parsed.name, reply=None, reason=cooling)
            return self._finish(result, parsed, login=login, role=role, source=source)
        try:
            result = await self._apply(parsed, login=login, role=role)
        except Exception as exc:
            # A failing action (journal disk, a dead turn) refuses this command, never the handler.
            log.exception("!twin %s from %s failed", parsed.name, login)
            result = CommandResult(
                accepted=False,
                command=parsed.name,
                reply=f"{parsed.name} failed",
                reason=f"failed: {type(exc).__name__}: {exc}",
            )
        if result.accepted:
            self._last_used[parsed.name] = now
            self._last_used_by[(parsed.name, login)] = now
        if parsed.name in _QUIET and not self.settings.acks_in_chat:
            result = replace(result, in_chat=False)
        return self._finish(result, parsed, login=login, role=role, source=source)

    def _may_reply_usage(self, source: Source) -> bool:
        # The dashboard and MQTT answer only their caller: only chat needs the limit.
        if source != "chat":
            return True
        now = self.clock.now()
        last = self._last_usage_reply
        if last is not None and now - last < self.settings.usage_reply_interval_s:
            return False
        self._last_usage_reply = now
        return True

    async def _apply(self, parsed: ParsedCommand, *, login: str, role: Role) -> CommandResult:
        name, args, state = parsed.name, parsed.args, self.state

        def done(reply: str | None, reason: str = "done") -> CommandResult:
            return CommandResult(accepted=True, command=name, reply=reply, reason=reason)

        if (added := self.added.get(name)) is not None:
            call = CommandCall(args=args, login=login, role=role, state=state, actions=self.actions)
            return done(await added.run(call))
        match name:
            case "pause":
                state.paused = True
                # a pause stops the twin now: the reply on its way is cut, as with skip; and
                # it stands even when cutting that reply fails
                try:
                    await self.actions.skip(f"!twin pause by {login}")
                except Exception:
                    log.exception("!twin pause by %s: the running reply was not cut", login)
                    return done("paused (the reply on its way could not be cut)")
                return done("paused")
            case "resume":
                state.paused = False
                return done("resumed")
            case "voice":
                state.voice = _SWITCH[args]
                if not state.voice:
                    await self.actions.silence()
                return done(f"voice {args}")
            case "chat":
                state.chat = _SWITCH[args]
                return done(f"chat {args}")
            case "hold":
                state.hold = _SWITCH[args]
                return done(
                    f"hold {args}: replies {'wait for approval' if state.hold else 'go out'}"
                )
            case "approve" | "reject":
                if name == "approve":
                    ok, said = await self.actions.approve_held(int(args) - 1, login=login)
                else:
                    ok, said = await self.actions.reject_held(login=login)
                if not ok:
                    return CommandResult(accepted=False, command=name, reply=said, reason=said)
                return done(said)
            case "skip":
                running = await self.actions.skip(f"!twin skip by {login}")
                return done("skipped" if running else "nothing to skip")
            case "say":
                if (refusal := await self.actions.say(args)) is not None:
                    return CommandResult(
                        accepted=False, command=name, reply=refusal, reason=refusal
                    )
                return done(None)
            case "ask":
                await self.actions.ask(args, login=login)
                return done(None)
            case "topic":
                state.topic = args
                return done(f"topic: {args}" if args else "topic cleared")
            case "rate":
                state.rate_per_minute = None if args == "default" else int(args)
                if state.rate_per_minute is None:
                    return done("rate: the default")
                return done(f"rate: {state.rate_per_minute} replies a minute")
            case "forget" if args:
                about_me = args == FORGET_ME
                who = login if about_me else args.removeprefix("@")
                try:
                    kept = self.actions.forget_chatter(who)
                except OSError as exc:  # a file that could not be rewritten still has them
                    log.error("!twin forget %s: not everything was erased: %s", who, exc)
                    said = "could not erase everything (the disk refused); the streamer is told"
                    return CommandResult(accepted=False, command=name, reply=said, reason=said)
                if about_me:
                    return done("done: cohost keeps nothing about you now", f"erased {who}")
                if kept:
                    return done(f"done: cohost keeps nothing about {who} now", f"erased {who}")
                if args.startswith("@"):
                    return done(f"cohost kept nothing about {who}", f"nothing kept about {who}")
                # a word that names no one cohost knows: the recent chat, as plain `forget`
                self.actions.forget()
                return done(
                    f"forgot the recent chat (cohost knows no chatter {who}; "
                    f"`forget @{who}` erases a user)",
                    f"forgot the recent chat; no chatter {who}",
                )
            case "forget":
                self.actions.forget()
                return done("forgot the recent chat")
            case "note":
                title = await self.actions.note(args)
                return done(f"noted: {title}")
            case "good" | "bad":
                verdict: Verdict = "good" if name == "good" else "bad"
                rated = self.actions.feedback(verdict, login=login)
                if rated is None:
                    return CommandResult(
                        accepted=False,
                        command=name,
                        reply="no reply to rate yet",
                        reason="no reply",
                    )
                # never the reply's words: `bad` must not post again what chat just judged bad
                if rated.previous is not None and rated.previous != verdict:
                    said = f"changed to {verdict} (was {rated.previous})"
                    return done(f"{said}: the last reply", f"{said}: turn {rated.turn_id}")
                return done(f"noted ({verdict}): the last reply", f"turn {rated.turn_id}")
            case "ignore":
                if args == self.broadcaster and role < Role.BROADCASTER:
                    said = f"{args} is the broadcaster: only they can make the twin ignore them"
                    return CommandResult(accepted=False, command=name, reply=said, reason=said)
                state.ignored.add(args)
                return done(f"ignoring {args}")
            case "unignore":
                was = args in state.ignored
                state.ignored.discard(args)
                return done(f"no longer ignoring {args}" if was else f"{args} was not ignored")
            case "status":
                return done(self._status())
            case "help":
                if args:
                    return done(self.describe(args))
                prefix = self.settings.prefix
                usable = [
                    c.usage.removeprefix(f"{prefix} ")
                    for c in self.commands()
                    if role >= Role[c.level.upper()]
                ]
                return done(f"{prefix} " + " | ".join(usable))
        raise AssertionError(f"unhandled command {name!r}")  # parse_command knows no others

    def _status(self) -> str:
        state = self.state
        rate = "default" if state.rate_per_minute is None else f"{state.rate_per_minute}/min"
        parts = [
            "paused" if state.paused else "live",
            f"voice {'on' if state.voice else 'off'}",
            f"chat {'on' if state.chat else 'off'}",
            f"hold {'on' if state.hold else 'off'}",
            f"rate {rate}",
            f"topic: {state.topic or '-'}",
            f"ignoring {len(state.ignored)}",
        ]
        extra = self.actions.status()
        return ", ".join(parts) + (f"; {extra}" if extra else "")

    def _finish(
        self,
        result: CommandResult,
        parsed: ParsedCommand,
        *,
        login: str,
        role: Role,
        source: Source,
    ) -> CommandResult:
        if result.accepted:
            self.accepted += 1
        else:
            self.refused += 1
        limit = self.settings.audit_args_chars
        args = parsed.args if len(parsed.args) <= limit else parsed.args[:limit] + "…"
        if parsed.name == "note" and args:
            # a journal entry, private by default: the journal keeps it, the audit log does not
            args = f"({len(parsed.args)} characters, into the journal)"
        self._audit(
            {
                "ts": self.clock.now(),
                "source": source,
                "login": login,
                "role": role.name.lower(),
                "command": parsed.name,
                "args": args,
                "accepted": result.accepted,
                "reason": result.reason,
                "reply": result.reply,
            }
        )
        return result

    def _audit(self, record: dict[str, object]) -> None:
        if self.audit_path is None:
            return
        line = json_line(record)
        try:
            # the owner's alone, as traces are: it names who steered the twin, and how
            fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as file:
                file.write(line)
                file.flush()
        except OSError as exc:
            # A full disk must not stop moderators from steering the twin.
            self.audit_failures += 1
            log.warning("audit log %s not written: %s", self.audit_path, exc)
