"""`!twin` commands: parsing, the permission matrix, cooldowns, usage replies, the audit log."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cohost.control.controller import USAGE, Controller, Rated, parse_command
from cohost.core.clock import VirtualClock
from cohost.core.events import Role
from cohost.core.options import CONTROL_COMMANDS, ControlSettings
from cohost.core.state import TwinState


class FakeActions:
    """Records what commands asked of the daemon."""

    def __init__(self, *, last_reply: str | None = "the last reply") -> None:
        self.calls: list[tuple[object, ...]] = []
        self.last_reply = last_reply
        self.verdicts: dict[str, Literal["good", "bad"]] = {}  # by reply, as a session keeps
        self.fail_on: str | None = None

    def _call(self, *call: object) -> None:
        if call[0] == self.fail_on:
            raise OSError("disk full")
        self.calls.append(call)

    async def skip(self, reason: str) -> bool:
        self._call("skip", reason)
        return True

    async def say(self, text: str) -> None:
        self._call("say", text)

    async def silence(self) -> None:
        self._call("silence")

    async def approve_held(self, choice: int, *, login: str) -> tuple[bool, str]:
        self._call("approve", choice, login)
        return True, "approved"

    async def reject_held(self, *, login: str) -> tuple[bool, str]:
        self._call("reject", login)
        return True, "rejected"

    async def ask(self, question: str, *, login: str) -> None:
        self._call("ask", question, login)

    def forget(self) -> None:
        self._call("forget")

    def forget_chatter(self, login: str) -> bool:
        self._call("forget_chatter", login)
        return True

    async def note(self, text: str) -> str:
        self._call("note", text)
        return "Note 1"

    def feedback(self, verdict: Literal["good", "bad"], *, login: str) -> Rated | None:
        self._call("feedback", verdict, login)
        if self.last_reply is None:
            return None
        previous = self.verdicts.get(self.last_reply)
        self.verdicts[self.last_reply] = verdict
        return Rated(turn_id="t1", previous=previous)

    def status(self) -> str:
        self._call("status")
        return "3 turns"


def make(
    tmp_path: Path, settings: ControlSettings | None = None, state: TwinState | None = None
) -> tuple[Controller, TwinState, FakeActions, VirtualClock]:
    state = state or TwinState()
    actions = FakeActions()
    clock = VirtualClock(1000.0)
    controller = Controller(
        settings or ControlSettings(), state, actions, clock, tmp_path / "audit.jsonl"
    )
    return controller, state, actions, clock


def audit_lines(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


# line, starting state, the state afterwards, the actions called, the lowest role allowed
CASES: list[tuple[str, TwinState, TwinState, list[tuple[object, ...]], Role]] = [
    ("!twin pause", TwinState(), TwinState(paused=True), [("skip", "!twin pause by u")],
     Role.MODERATOR),
    ("!twin resume", TwinState(paused=True), TwinState(), [], Role.MODERATOR),
    ("!twin voice off", TwinState(), TwinState(voice=False), [("silence",)], Role.MODERATOR),
    ("!twin chat OFF", TwinState(), TwinState(chat=False), [], Role.MODERATOR),
    ("!twin hold on", TwinState(), TwinState(hold=True), [], Role.BROADCASTER),
    ("!twin hold off", TwinState(hold=True), TwinState(), [], Role.BROADCASTER),
    ("!twin approve", TwinState(), TwinState(), [("approve", 0, "u")], Role.MODERATOR),
    ("!twin approve 3", TwinState(), TwinState(), [("approve", 2, "u")], Role.MODERATOR),
    ("!twin reject", TwinState(), TwinState(), [("reject", "u")], Role.MODERATOR),
    ("!twin skip", TwinState(), TwinState(), [("skip", "!twin skip by u")], Role.MODERATOR),
    ("!twin say hello   there", TwinState(), TwinState(), [("say", "hello there")], Role.MODERATOR),
    ("!twin ask why so slow?", TwinState(), TwinState(), [("ask", "why so slow?", "u")],
     Role.MODERATOR),
    ("!twin topic Elden Ring", TwinState(), TwinState(topic="Elden Ring"), [], Role.MODERATOR),
    ("!twin rate 3", TwinState(), TwinState(rate_per_minute=3), [], Role.MODERATOR),
    ("!twin forget", TwinState(), TwinState(), [("forget",)], Role.MODERATOR),
    ("!twin forget me", TwinState(), TwinState(), [("forget_chatter", "u")], Role.EVERYONE),
    ("!twin forget @Bea", TwinState(), TwinState(), [("forget_chatter", "bea")], Role.MODERATOR),
    ("!twin note new keyboard", TwinState(), TwinState(), [("note", "new keyboard")],
     Role.BROADCASTER),
    ("!twin good", TwinState(), TwinState(), [("feedback", "good", "u")], Role.MODERATOR),
    ("!twin bad", TwinState(), TwinState(), [("feedback", "bad", "u")], Role.MODERATOR),
    ("!twin ignore @SpamBoy", TwinState(), TwinState(ignored={"spamboy"}), [], Role.MODERATOR),
    ("!twin unignore spamboy", TwinState(ignored={"spamboy"}), TwinState(), [], Role.MODERATOR),
    ("!twin status", TwinState(), TwinState(), [("status",)], Role.MODERATOR),
    ("!twin help", TwinState(), TwinState(), [], Role.EVERYONE),
]  # fmt: skip


def test_the_matrix_covers_every_command() -> None:
    assert {parse_command(line).name for line, *_ in CASES} == set(CONTROL_COMMANDS)  # type: ignore[union-attr]
    assert set(USAGE) == set(CONTROL_COMMANDS)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name.lower())
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_every_command_for_every_role(
    tmp_path: Path,
    case: tuple[str, TwinState, TwinState, list[tuple[object, ...]], Role],
    role: Role,
) -> None:
    line, before, after, calls, needed = case
    controller, state, actions, _ = make(tmp_path, state=copy.deepcopy(before))
    result = await controller.handle(line, login="U", role=role, source="chat")
    assert result is not None
    allowed = role >= needed
    assert result.accepted is allowed, result.reason
    assert state == (after if allowed else before)
    assert actions.calls == (calls if allowed else [])
    if not allowed:
        assert result.reply is None  # refusals are silent in chat
        assert needed.name.lower() in result.reason
    [audit] = audit_lines(tmp_path)
    assert audit["accepted"] is allowed
    assert audit["login"] == "u"
    assert audit["role"] == role.name.lower()
    assert audit["command"] == result.command
    assert audit["source"] == "chat"
    assert audit["reason"] == result.reason
    assert audit["ts"] == 1000.0


async def test_replies_say_what_changed(tmp_path: Path) -> None:
    controller, state, _, _ = make(tmp_path)

    async def reply(line: str) -> str | None:
        result = await controller.handle(line, login="b", role=Role.BROADCASTER, source="chat")
        assert result is not None
        assert result.accepted, result.reason
        return result.reply

    assert await reply("!twin pause") == "paused"
    assert await reply("!twin voice off") == "voice off"
    assert await reply("!twin topic") == "topic cleared"
    assert await reply("!twin rate default") == "rate: the default"
    assert state.rate_per_minute is None
    assert await reply("!twin note new desk") == "noted: Note 1"
    assert await reply("!twin good") == "noted (good): the last reply"  # never its words
    assert await reply("!twin unignore nobody") == "nobody was not ignored"
    assert await reply("!twin say hi") is None  # the said text is the chat message
    status = await reply("!twin status")
    assert status is not None
    assert "paused" in status
    assert "voice off" in status
    assert "3 turns" in status
    assert await reply("!twin help rate") == (
        "!twin rate N|default: at most N replies a minute; default goes back to the settings"
    )


async def test_help_lists_only_what_the_caller_may_use(tmp_path: Path) -> None:
    controller, *_ = make(tmp_path)
    viewer = await controller.handle("!twin help", login="v", role=Role.EVERYONE, source="chat")
    mod = await controller.handle("!twin help", login="m", role=Role.BROADCASTER, source="chat")
    assert viewer is not None
    assert mod is not None
    assert viewer.reply == "!twin help [COMMAND]"
    assert mod.reply is not None
    assert "note TEXT" in mod.reply
    assert "pause" in mod.reply


async def test_feedback_without_a_last_reply_is_refused(tmp_path: Path) -> None:
    controller, _, actions, _ = make(tmp_path)
    actions.last_reply = None
    result = await controller.handle("!twin bad", login="m", role=Role.MODERATOR, source="chat")
    assert result is not None
    assert not result.accepted
    assert result.reply == "no reply to rate yet"


async def test_text_that_is_not_a_command_is_none_and_not_audited(tmp_path: Path) -> None:
    controller, *_ = make(tmp_path)
    for text in ("hello", "!twinkle", "!other pause", "twin pause", ""):
        assert await controller.handle(text, login="m", role=Role.MODERATOR, source="chat") is None
    assert audit_lines(tmp_path) == []


async def test_cooldown_is_shared_and_ends(tmp_path: Path) -> None:
    controller, _, actions, clock = make(tmp_path, ControlSettings(permissions={"say": "vip"}))

    async def say(login: str, role: Role = Role.VIP) -> bool:
        result = await controller.handle("!twin say hi", login=login, role=role, source="chat")
        assert result is not None
        return result.accepted

    assert await say("a")
    clock.advance(1.0)
    assert not await say("b")  # another VIP, same command: still cooling down
    assert "cooling down" in str(audit_lines(tmp_path)[-1]["reason"])
    clock.advance(3.9)
    assert not await say("a")
    clock.advance(0.1)
    assert await say("a")
    assert [c[0] for c in actions.calls] == ["say", "say"]


async def test_other_commands_have_their_own_cooldown(tmp_path: Path) -> None:
    controller, *_ = make(tmp_path)
    first = await controller.handle("!twin ask a?", login="m", role=Role.MODERATOR, source="chat")
    other = await controller.handle("!twin say b", login="m", role=Role.MODERATOR, source="chat")
    assert first is not None
    assert other is not None
    assert first.accepted
    assert other.accepted


async def test_the_broadcaster_bypasses_cooldowns(tmp_path: Path) -> None:
    controller, _, actions, _ = make(tmp_path, ControlSettings(cooldown_bypass="broadcaster"))
    for _ in range(3):
        result = await controller.handle(
            "!twin say hi", login="streamer", role=Role.BROADCASTER, source="chat"
        )
        assert result is not None
        assert result.accepted
    assert len(actions.calls) == 3
    # ...and the broadcaster's use still starts the cooldown for everyone else
    mod = await controller.handle("!twin say hi", login="m", role=Role.MODERATOR, source="chat")
    assert mod is not None
    assert not mod.accepted


async def test_a_refused_command_starts_no_cooldown(tmp_path: Path) -> None:
    controller, *_ = make(tmp_path)
    viewer = await controller.handle("!twin say hi", login="v", role=Role.VIP, source="chat")
    mod = await controller.handle("!twin say hi", login="m", role=Role.MODERATOR, source="chat")
    assert viewer is not None
    assert mod is not None
    assert not viewer.accepted
    assert mod.accepted


async def test_usage_replies_in_chat_are_rate_limited(tmp_path: Path) -> None:
    controller, _, _, clock = make(tmp_path)

    async def bad(source: Literal["chat", "mqtt", "dashboard"] = "chat") -> str | None:
        result = await controller.handle(
            "!twin dance", login="v", role=Role.EVERYONE, source=source
        )
        assert result is not None
        assert not result.accepted
        assert result.reason == "unknown command"
        return result.reply

    first = await bad()
    assert first is not None
    assert first.startswith("unknown command; usage: !twin pause|resume")
    assert "dance" not in first  # a viewer's word is never said back
    for _ in range(50):
        clock.advance(0.5)
        assert await bad() is None
    assert await bad("dashboard") == first  # only chat is limited
    clock.advance(5.0)
    assert await bad() == first
    assert len(audit_lines(tmp_path)) == 53  # every refusal is audited, replied or not


async def test_a_malformed_command_gets_its_own_usage(tmp_path: Path) -> None:
    controller, state, _, _ = make(tmp_path)
    result = await controller.handle("!twin rate 61", login="m", role=Role.MODERATOR, source="chat")
    assert result is not None
    assert not result.accepted
    assert result.command == "rate"
    assert (
        result.reply == "rate takes a number from 0 to 60, or default; usage: !twin rate N|default"
    )
    assert state.rate_per_minute is None


async def test_permissions_come_from_settings(tmp_path: Path) -> None:
    settings = ControlSettings(permissions={"say": "vip", "pause": "broadcaster"})
    assert settings.permissions["ask"] == "moderator"  # commands left out keep their default
    controller, state, actions, _ = make(tmp_path, settings)
    vip = await controller.handle("!twin say hi", login="v", role=Role.VIP, source="mqtt")
    mod = await controller.handle("!twin pause", login="m", role=Role.MODERATOR, source="mqtt")
    assert vip is not None
    assert mod is not None
    assert vip.accepted
    assert not mod.accepted
    assert not state.paused
    assert actions.calls == [("say", "hi")]


def test_settings_refuse_unknown_commands_and_negative_cooldowns() -> None:
    with pytest.raises(ValidationError, match="unknown command"):
        ControlSettings(permissions={"sya": "vip"})
    with pytest.raises(ValidationError):
        ControlSettings(permissions={"say": "admin"})
    with pytest.raises(ValidationError, match="negative"):
        ControlSettings(cooldowns_s={"say": -1.0})
    assert ControlSettings(cooldowns_s={"say": 1.0}).cooldowns_s["help"] == 30.0


async def test_a_custom_prefix(tmp_path: Path) -> None:
    controller, state, _, _ = make(tmp_path, ControlSettings(prefix="!mossy"))
    assert (
        await controller.handle("!twin pause", login="m", role=Role.MODERATOR, source="chat")
        is None
    )
    result = await controller.handle("!MOSSY pause", login="m", role=Role.MODERATOR, source="chat")
    assert result is not None
    assert result.accepted
    assert state.paused


async def test_audit_arguments_are_truncated(tmp_path: Path) -> None:
    controller, _, actions, _ = make(tmp_path, ControlSettings(audit_args_chars=10))
    await controller.handle("!twin say " + "x" * 50, login="m", role=Role.MODERATOR, source="chat")
    assert actions.calls == [("say", "x" * 50)]  # the action gets it whole
    assert audit_lines(tmp_path)[0]["args"] == "x" * 10 + "…"


async def test_the_audit_log_keeps_no_note_and_is_the_owners_alone(tmp_path: Path) -> None:
    controller, _, actions, _ = make(tmp_path)
    note = "my sister's rehab stay ends on the 14th"
    await controller.handle(f"!twin note {note}", login="s", role=Role.BROADCASTER, source="mqtt")
    assert actions.calls == [("note", note)]  # the journal gets it
    text = (tmp_path / "audit.jsonl").read_text()
    assert "rehab" not in text
    assert audit_lines(tmp_path)[0]["args"] == f"({len(note)} characters, into the journal)"
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("where", ["a directory", "under a file"])
async def test_an_audit_write_failure_is_counted_never_raised(tmp_path: Path, where: str) -> None:
    if where == "a directory":
        audit = tmp_path
    else:
        (tmp_path / "plain").write_text("")
        audit = tmp_path / "plain" / "audit.jsonl"
    state = TwinState()
    controller = Controller(ControlSettings(), state, FakeActions(), VirtualClock(), audit)
    result = await controller.handle("!twin pause", login="m", role=Role.MODERATOR, source="chat")
    assert result is not None
    assert result.accepted
    assert state.paused
    refused = await controller.handle("!twin pause", login="v", role=Role.EVERYONE, source="chat")
    assert refused is not None
    assert controller.audit_failures == 2


async def test_a_failing_action_refuses_the_command_and_starts_no_cooldown(
    tmp_path: Path,
) -> None:
    controller, _, actions, _ = make(tmp_path)
    actions.fail_on = "note"
    result = await controller.handle(
        "!twin note x", login="s", role=Role.BROADCASTER, source="dashboard"
    )
    assert result is not None
    assert not result.accepted
    assert result.reply == "note failed"
    assert "disk full" in result.reason
    assert audit_lines(tmp_path)[0]["accepted"] is False
    assert controller.refused == 1


async def test_no_audit_path_writes_nothing(tmp_path: Path) -> None:
    controller = Controller(ControlSettings(), TwinState(), FakeActions(), VirtualClock(), None)
    result = await controller.handle("!twin pause", login="m", role=Role.MODERATOR, source="chat")
    assert result is not None
    assert result.accepted
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "name", "args", "error"),
    [
        ("!twin pause", "pause", "", None),
        ("  !TWIN   PaUsE  ", "pause", "", None),
        ("!twin\tvoice\u3000On", "voice", "on", None),
        ("!twin say  Grüße,   世界 ", "say", "Grüße, 世界", None),
        ("!twin topic", "topic", "", None),
        ("!twin rate 007", "rate", "7", None),
        ("!twin rate DEFAULT", "rate", "default", None),
        ("!twin ignore @Some_User", "ignore", "some_user", None),
        ("!twin help SAY", "help", "say", None),
        ("!twin", "", "", "no command given"),
        ("!twin   ", "", "", "no command given"),
        ("!twin dance now", "dance", "now", "unknown command"),
        ("!twin pause now", "pause", "", None),
        ("!twin pause please, the doorbell", "pause", "", None),
        ("!twin stop", "pause", "", None),
        ("!twin OFF now", "pause", "", None),
        ("!twin unpause", "resume", "", None),
        ("!twin mute", "voice", "off", None),
        ("!twin mute it please", "voice", "off", None),
        ("!twin voice off please", "voice", "off", None),
        ("!twin hold ON for a bit", "hold", "on", None),
        ("!twin rate 3 a minute", "rate", "3", None),
        ("!twin approve 2 please", "approve", "2", None),
        ("!twin help stop", "help", "pause", None),
        ("!twin commands", "help", "", None),
        ("!twin voice", "voice", "", "voice takes on or off"),
        ("!twin voice maybe", "voice", "maybe", "voice takes on or off"),
        ("!twin approve 5", "approve", "5", "approve takes a candidate's number, 1 to 4"),
        ("!twin approve two", "approve", "two", "approve takes a candidate's number, 1 to 4"),
        ("!twin approve 0", "approve", "0", "approve takes a candidate's number, 1 to 4"),
        ("!twin reject all", "reject", "", None),
        ("!twin say", "say", "", "say needs some text"),
        ("!twin note   ", "note", "", "note needs some text"),
        ("!twin rate -1", "rate", "-1", "rate takes a number from 0 to 60, or default"),
        ("!twin rate 61", "rate", "61", "rate takes a number from 0 to 60, or default"),
        ("!twin rate ٣", "rate", "٣", "rate takes a number from 0 to 60, or default"),
        ("!twin rate " + "9" * 5000, "rate", "9" * 5000,
         "rate takes a number from 0 to 60, or default"),
        ("!twin ignore", "ignore", "", "ignore takes one Twitch login"),
        ("!twin ignore two users", "ignore", "two users", "ignore takes one Twitch login"),
        ("!twin ignore ünï", "ignore", "ünï", "ignore takes one Twitch login"),
        ("!twin help dance", "help", "dance", "no such command"),
    ],
)  # fmt: skip
def test_parse(text: str, name: str, args: str, error: str | None) -> None:
    parsed = parse_command(text)
    assert parsed is not None
    assert (parsed.name, parsed.args, parsed.error) == (name, args, error)
    assert parsed.usage.startswith("usage: !twin ")


@pytest.mark.parametrize("text", ["", "pause", "!twinpause", "!twin-pause", "hi !twin pause", "!"])
def test_parse_not_a_command(text: str) -> None:
    assert parse_command(text) is None


@given(st.text())
def test_parse_never_raises(text: str) -> None:
    for line in (text, "!twin " + text, "!TWIN" + text):
        parsed = parse_command(line)
        if parsed is not None:
            assert parsed.name == parsed.name.lower()
            if parsed.error is None:
                assert parsed.name in USAGE
            assert parsed.usage.startswith("usage: !twin")


@given(st.sampled_from(CONTROL_COMMANDS), st.text())
def test_parse_known_commands_with_any_arguments(name: str, args: str) -> None:
    parsed = parse_command(f"!twin {name} {args}")
    assert parsed is not None
    assert parsed.name == name
    if parsed.error is None and name in ("say", "ask", "note", "topic"):
        assert parsed.args == " ".join(args.split())


async def test_a_viewers_malformed_mod_command_is_refused_in_silence(tmp_path: Path) -> None:
    controller, _, actions, _ = make(tmp_path)
    for text in ("!twin rate lots", "!twin voice maybe", "!twin ignore a b", "!twin pause now"):
        result = await controller.handle(text, login="viewer", role=Role.EVERYONE, source="chat")
        assert result is not None
        assert (result.accepted, result.reply) == (False, None), text
        assert result.reason.startswith("needs moderator"), result.reason
    assert not actions.calls
    # a moderator's malformed command still says what was wrong
    result = await controller.handle(
        "!twin rate lots", login="mod", role=Role.MODERATOR, source="chat"
    )
    assert result is not None and result.reply is not None
    assert result.reply.startswith("rate takes a number")
    # an unknown verb needs what help needs (everyone, by default): the usage line still comes
    result = await controller.handle("!twin dance", login="v2", role=Role.EVERYONE, source="mqtt")
    assert result is not None and result.reply is not None and "usage" in result.reply


async def test_a_moderator_cannot_make_the_twin_ignore_the_broadcaster(tmp_path: Path) -> None:
    state = TwinState()
    controller = Controller(
        ControlSettings(), state, FakeActions(), VirtualClock(1000.0), None, broadcaster="#NymN"
    )
    result = await controller.handle(
        "!twin ignore @NymN", login="mod", role=Role.MODERATOR, source="chat"
    )
    assert result is not None and not result.accepted
    assert result.reply == "nymn is the broadcaster: only they can make the twin ignore them"
    assert "nymn" not in state.ignored
    result = await controller.handle(
        "!twin ignore troll", login="mod", role=Role.MODERATOR, source="chat"
    )
    assert result is not None and result.accepted and "troll" in state.ignored
    result = await controller.handle(
        "!twin ignore nymn", login="nymn", role=Role.BROADCASTER, source="chat"
    )
    assert result is not None and result.accepted and "nymn" in state.ignored


# ---- commands as moderators know them from Nightbot and Streamer.bot (issue #19) -------------


async def test_words_after_a_switch_command_are_ignored(tmp_path: Path) -> None:
    controller, state, _, _ = make(tmp_path)
    said = await controller.handle(
        "!twin pause please", login="streamer", role=Role.BROADCASTER, source="chat"
    )
    assert said is not None
    assert (said.accepted, said.reply) == (True, "paused")
    assert state.paused
    off = await controller.handle(
        "!twin voice off for a bit", login="m", role=Role.MODERATOR, source="chat"
    )
    assert off is not None
    assert off.accepted
    assert not state.voice


async def test_the_broadcasters_pause_always_works(tmp_path: Path) -> None:
    controller, state, actions, clock = make(
        tmp_path, ControlSettings(cooldowns_s={"pause": 60.0}, cooldown_bypass="broadcaster")
    )
    # a flood of malformed commands has used up chat's usage replies...
    for _ in range(5):
        await controller.handle("!twin dance", login="v", role=Role.EVERYONE, source="chat")
    # ...a moderator's pause started the cooldown, then someone resumed...
    await controller.handle("!twin stop", login="m", role=Role.MODERATOR, source="chat")
    state.paused = False
    clock.advance(1.0)
    # ...and cutting the running reply fails: the streamer's pause still stands
    actions.fail_on = "skip"
    result = await controller.handle(
        "!twin pause now please", login="streamer", role=Role.BROADCASTER, source="chat"
    )
    assert result is not None
    assert result.accepted, result.reason
    assert state.paused
    assert result.reply == "paused (the reply on its way could not be cut)"


@pytest.mark.parametrize(
    ("alias", "command", "after"),
    [
        ("stop", "pause", TwinState(paused=True)),
        ("off", "pause", TwinState(paused=True)),
        ("mute", "voice", TwinState(voice=False)),
        ("next", "skip", TwinState()),
    ],
)
async def test_aliases_are_the_commands_they_name(
    tmp_path: Path, alias: str, command: str, after: TwinState
) -> None:
    controller, state, _, _ = make(tmp_path)
    result = await controller.handle(
        f"!twin {alias}", login="m", role=Role.MODERATOR, source="chat"
    )
    assert result is not None
    assert (result.accepted, result.command) == (True, command)
    assert state == after
    assert audit_lines(tmp_path)[-1]["command"] == command  # the audit names the command


async def test_moderators_and_up_bypass_cooldowns_by_default(tmp_path: Path) -> None:
    controller, *_ = make(tmp_path)

    async def help_from(login: str, role: Role) -> bool:
        result = await controller.handle("!twin help", login=login, role=role, source="chat")
        assert result is not None
        return result.accepted

    assert await help_from("viewer", Role.EVERYONE)
    assert not await help_from("vip", Role.VIP)  # the shared cooldown holds a VIP back
    assert await help_from("mod", Role.MODERATOR)  # 3 s after a viewer's: still answered
    assert await help_from("mod", Role.MODERATOR)
    held, _, _, _ = make(tmp_path, ControlSettings(cooldown_bypass="broadcaster"))
    first = await held.handle("!twin help", login="mod", role=Role.MODERATOR, source="chat")
    again = await held.handle("!twin help", login="mod", role=Role.MODERATOR, source="chat")
    assert first is not None
    assert again is not None
    assert (first.accepted, again.accepted) == (True, False)


async def test_per_user_and_shared_cooldowns(tmp_path: Path) -> None:
    settings = ControlSettings(cooldowns_s={"help": 10.0}, user_cooldowns_s={"help": 60.0})
    controller, _, _, clock = make(tmp_path, settings)

    async def help_from(login: str) -> bool:
        result = await controller.handle(
            "!twin help", login=login, role=Role.EVERYONE, source="chat"
        )
        assert result is not None
        return result.accepted

    assert await help_from("ana")
    clock.advance(5.0)
    assert not await help_from("bo")  # the shared cooldown
    clock.advance(6.0)
    assert await help_from("bo")
    clock.advance(20.0)
    assert not await help_from("ana")  # ana's own: 31 s after her last
    reason = str(audit_lines(tmp_path)[-1]["reason"])
    assert reason == "cooling down (29.0 s left)"
    clock.advance(29.0)
    assert await help_from("ana")


def test_settings_refuse_unknown_commands_in_user_cooldowns() -> None:
    with pytest.raises(ValidationError):
        ControlSettings(user_cooldowns_s={"dance": 1.0})
    with pytest.raises(ValidationError):
        ControlSettings(user_cooldowns_s={"help": -1.0})


async def test_help_for_a_command_says_what_it_does(tmp_path: Path) -> None:
    controller, *_ = make(tmp_path)
    for name in CONTROL_COMMANDS:
        line = controller.describe(name)
        assert line.startswith(f"!twin {USAGE[name]}: ")
        assert len(line) < 200
    result = await controller.handle(
        "!twin help hold", login="m", role=Role.MODERATOR, source="chat"
    )
    assert result is not None
    assert result.reply == (
        "!twin hold on|off: replies wait for approval on the dashboard before they go out"
    )
    by_alias = await controller.handle(
        "!twin help stop", login="m", role=Role.MODERATOR, source="chat"
    )
    assert by_alias is not None
    assert by_alias.reply is not None
    assert by_alias.reply.startswith("!twin pause: the twin stops answering")
    assert by_alias.reply.endswith("(also !twin stop, !twin off)")


@pytest.mark.parametrize("line", ["!twin approve", "!twin reject", "!twin good", "!twin bad"])
async def test_acknowledgements_go_to_the_dashboard_and_audit_not_chat(
    tmp_path: Path, line: str
) -> None:
    controller, *_ = make(tmp_path)
    result = await controller.handle(line, login="m", role=Role.MODERATOR, source="chat")
    assert result is not None
    assert result.accepted
    assert result.reply  # the dashboard shows it...
    assert not result.in_chat  # ...chat does not
    assert audit_lines(tmp_path)[-1]["reply"] == result.reply
    loud, *_ = make(tmp_path, ControlSettings(acks_in_chat=True))
    again = await loud.handle(line, login="m", role=Role.MODERATOR, source="chat")
    assert again is not None
    assert again.in_chat
    other = await controller.handle("!twin pause", login="m", role=Role.MODERATOR, source="chat")
    assert other is not None
    assert other.in_chat  # a switch still answers in chat


async def test_bad_never_repeats_the_line_and_a_changed_verdict_is_said(tmp_path: Path) -> None:
    controller, _, actions, clock = make(tmp_path)
    actions.last_reply = "a line chat did not like"

    async def rate(verdict: str) -> tuple[str, str]:
        clock.advance(10.0)
        result = await controller.handle(
            f"!twin {verdict}", login="m", role=Role.MODERATOR, source="chat"
        )
        assert result is not None
        assert result.accepted
        assert result.reply is not None
        return result.reply, result.reason

    bad, _ = await rate("bad")
    assert "did not like" not in bad
    assert bad == "noted (bad): the last reply"
    changed, reason = await rate("good")
    assert changed == "changed to good (was bad): the last reply"
    assert reason == "changed to good (was bad): turn t1"
    same, _ = await rate("good")
    assert same == "noted (good): the last reply"


async def test_forget_me_never_says_done_when_a_file_could_not_be_rewritten(
    tmp_path: Path,
) -> None:
    controller, _, actions, _ = make(tmp_path)
    actions.fail_on = "forget_chatter"
    result = await controller.handle(
        "!twin forget me", login="shy", role=Role.EVERYONE, source="chat"
    )
    assert result is not None and not result.accepted
    assert result.reply is not None and "could not erase" in result.reply
    assert "keeps nothing" not in result.reply
