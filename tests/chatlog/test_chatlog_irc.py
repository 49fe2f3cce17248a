"""Raw Twitch IRC lines and the recent-messages JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohost.chatlog import open_log
from cohost.chatlog.base import BadLine
from cohost.chatlog.irc import IrcParser, emote_only, parse_tags, unescape_tag
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage, Moderation, Role, UserNotice

PREFIX = ":nerixyz!nerixyz@nerixyz.tmi.twitch.tv"


def parse(line: str) -> object:
    return IrcParser().parse(line, 7)


def message(line: str) -> ChatMessage:
    event = parse(line)
    assert isinstance(event, ChatMessage)
    return event


def notice(tags: str, trailing: str = "") -> UserNotice:
    event = parse(f"@{tags} :tmi.twitch.tv USERNOTICE #pajlada{trailing}")
    assert isinstance(event, UserNotice)
    return event


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (r"a\sb", "a b"),
        (r"semi\:colon", "semi;colon"),
        (r"back\\slash", "back\\slash"),
        (r"cr\rlf\n", "cr\rlf\n"),
        (r"unknown\q", "unknownq"),
        ("trailing\\", "trailing"),
        (r"\\s", "\\s"),
        ("plain", "plain"),
    ],
)
def test_tag_values_are_unescaped(raw: str, text: str) -> None:
    assert unescape_tag(raw) == text


def test_tags_without_a_value_and_with_an_equals_sign_in_the_value() -> None:
    assert parse_tags("a=1;flag;url=x=y;b=") == {"a": "1", "flag": "", "url": "x=y", "b": ""}
    assert parse_tags("a=1;b=2;a=3") == {"a": "3", "b": "2"}


def test_privmsg_with_every_tag() -> None:
    msg = message(
        "@badge-info=subscriber/27;badges=vip/1,subscriber/24;bits=100;display-name=Nerixyz;"
        "emotes=;first-msg=1;id=abc-1;mod=0;reply-parent-msg-id=parent-9;"
        "reply-parent-user-login=pajlada;tmi-sent-ts=1726920321214;user-id=129546453 "
        f"{PREFIX} PRIVMSG #PajLada :@pajlada Cheer100 hi there"
    )
    assert msg.id == "abc-1"
    assert msg.channel == "pajlada"
    assert msg.login == "nerixyz"
    assert msg.display_name == "Nerixyz"
    assert msg.user_id == "129546453"
    assert msg.text == "@pajlada Cheer100 hi there"
    assert msg.ts == pytest.approx(1726920321.214)
    assert msg.roles == frozenset({Role.VIP, Role.SUBSCRIBER})
    assert msg.role is Role.VIP
    assert msg.badges == (("vip", "1"), ("subscriber", "24"))
    assert msg.first_msg is True
    assert msg.bits == 100
    assert msg.reply_parent_id == "parent-9"
    assert msg.reply_parent_login == "pajlada"
    assert msg.action is False
    assert msg.emote_only is False


@pytest.mark.parametrize(
    ("badges", "extra", "roles"),
    [
        ("broadcaster/1,subscriber/3072,partner/1", "", {Role.BROADCASTER, Role.SUBSCRIBER}),
        ("moderator/1", "", {Role.MODERATOR}),
        ("founder/0", "", {Role.SUBSCRIBER}),
        ("premium/1,bits/100", "", set()),
        ("", ";mod=1", {Role.MODERATOR}),
        ("", ";vip=1", {Role.VIP}),
        ("subscriber24", "", set()),  # a malformed badge is kept, grants nothing
    ],
)
def test_roles_come_from_badges_and_the_mod_tag(badges: str, extra: str, roles: set[Role]) -> None:
    msg = message(f"@badges={badges}{extra};tmi-sent-ts=1 {PREFIX} PRIVMSG #c :x")
    assert msg.roles == frozenset(roles)


def test_trailing_with_and_without_colon() -> None:
    assert message(f"{PREFIX} PRIVMSG #c hello").text == "hello"
    assert message(f"{PREFIX} PRIVMSG #c :hello world").text == "hello world"
    assert message(f"{PREFIX} PRIVMSG #c :").text == ""
    assert message(f"{PREFIX} PRIVMSG #c ::-) colon kept").text == ":-) colon kept"


def test_message_without_tags_keeps_the_last_time_and_gets_a_synthetic_id() -> None:
    parser = IrcParser()
    first = parser.parse(f"@tmi-sent-ts=5000 {PREFIX} PRIVMSG #c :a", 1)
    second = parser.parse(f"{PREFIX} PRIVMSG #c :b", 2)
    assert isinstance(first, ChatMessage)
    assert isinstance(second, ChatMessage)
    assert second.ts == first.ts == 5.0
    assert second.id == "irc:2"
    assert second.display_name == "nerixyz"


def test_action_is_unwrapped() -> None:
    msg = message(f"@emotes=25:0-4 {PREFIX} PRIVMSG #c :\x01ACTION Kappa\x01")
    assert msg.action is True
    assert msg.text == "Kappa"
    assert msg.emote_only is True
    assert message(f"{PREFIX} PRIVMSG #c :\x01ACTION waves").text == "waves"


def test_empty_nick_falls_back_to_the_user_part() -> None:
    assert message(":!nerixyz@nerixyz.tmi.twitch.tv PRIVMSG #c :no").login == "nerixyz"


@pytest.mark.parametrize(
    ("text", "emotes", "only"),
    [
        ("Kappa", "25:0-4", True),
        ("Kappa Keepo PogChamp", "25:0-4/1902:6-10/305954156:12-19", True),
        ("Kappa  Kappa ", "25:0-4,7-11", True),
        ("Kappa 😂 Kappa", "25:0-4,8-12", False),
        ("foo bar", "84608:0-15", False),  # a range past the end is not trusted
        ("Kappa", "25:4-0", False),
        ("Kappa", "25:04", False),
        ("Kappa hi", "25:0-4", False),
        ("hi", "", False),
    ],
)
def test_emote_only_from_ranges(text: str, emotes: str, only: bool) -> None:
    assert emote_only(text, emotes) is only


def test_emote_only_tag_is_trusted() -> None:
    assert message(f"@emote-only=1;emotes=25:04 {PREFIX} PRIVMSG #c :Kappa").emote_only is True


@pytest.mark.parametrize(
    ("msg_id", "kind"),
    [
        ("sub", "sub"),
        ("resub", "resub"),
        ("subgift", "subgift"),
        ("anonsubgift", "subgift"),
        ("submysterygift", "submysterygift"),
        ("raid", "raid"),
        ("announcement", "announcement"),
        ("bitsbadgetier", "other"),
        ("", "other"),
    ],
)
def test_usernotice_kinds(msg_id: str, kind: str) -> None:
    event = notice(f"msg-id={msg_id};login=gifter;tmi-sent-ts=1000")
    assert event.kind == kind
    assert event.msg_id == msg_id


def test_resub_carries_months_system_text_and_message() -> None:
    event = notice(
        r"badges=subscriber/12;display-name=Calm;id=n-1;login=calm;msg-id=resub;"
        r"msg-param-cumulative-months=9;msg-param-months=0;"
        r"system-msg=Calm\ssubscribed\sat\sTier\s3.;tmi-sent-ts=1507246572675;user-id=609",
        " :Great stream -- keep it up!",
    )
    assert event.id == "n-1"
    assert event.login == "calm"
    assert event.display_name == "Calm"
    assert event.text == "Great stream -- keep it up!"
    assert event.system_text == "Calm subscribed at Tier 3."
    assert event.months == 9
    assert event.roles == frozenset({Role.SUBSCRIBER})
    assert event.ts == pytest.approx(1507246572.675)
    assert event.user_id == "609"


def test_old_resub_uses_msg_param_months() -> None:
    assert notice("msg-id=resub;login=x;msg-param-months=6").months == 6


def test_subgift_recipient_and_raid_viewers() -> None:
    gift = notice("msg-id=subgift;login=tww2;msg-param-recipient-user-name=Mr_Woodchuck")
    assert gift.recipient == "mr_woodchuck"
    assert not gift.in_community_gift  # a gift straight to one viewer
    tags = "msg-id=subgift;login=tww2;msg-param-community-gift-id=4112"
    assert notice(tags).in_community_gift  # one of a community gift's subs
    old_gift = notice("msg-id=subgift;login=tww2;msg-param-recipient-name=mr_woodchuck")
    assert old_gift.recipient == "mr_woodchuck"
    raid = notice("msg-id=raid;login=nerixyz;msg-param-viewerCount=2")
    assert raid.viewers == 2
    assert raid.recipient is None
    assert raid.text == ""


def test_usernotice_trailing_without_colon() -> None:
    assert notice("msg-id=viewermilestone;login=x", " 🫣").text == "🫣"


def test_clearchat_timeout_ban_and_clear() -> None:
    timeout = parse("@ban-duration=600;tmi-sent-ts=2000 :tmi.twitch.tv CLEARCHAT #c :TwitchDev")
    ban = parse("@tmi-sent-ts=2000 :tmi.twitch.tv CLEARCHAT #c twitchdev")
    clear = parse("@tmi-sent-ts=2000 :tmi.twitch.tv CLEARCHAT #c")
    assert timeout == Moderation(
        kind="timeout", channel="c", ts=2.0, target_login="twitchdev", duration=600
    )
    assert ban == Moderation(kind="ban", channel="c", ts=2.0, target_login="twitchdev")
    assert clear == Moderation(kind="clear", channel="c", ts=2.0)


def test_clearmsg_with_and_without_colon() -> None:
    deleted = parse(
        "@login=kooby_;target-msg-id=862716db;tmi-sent-ts=1000 :tmi.twitch.tv CLEARMSG #c sup"
    )
    assert deleted == Moderation(
        kind="delete",
        channel="c",
        ts=1.0,
        target_login="kooby_",
        target_message_id="862716db",
        text="sup",
    )
    colon = parse("@login=a;target-msg-id=m :tmi.twitch.tv CLEARMSG #c :two words")
    assert isinstance(colon, Moderation)
    assert colon.text == "two words"


@pytest.mark.parametrize(
    "line",
    [
        "@msg-id=emote_only_on :tmi.twitch.tv NOTICE #c :This room is now in emote-only mode.",
        "@emote-only=0;room-id=1 :tmi.twitch.tv ROOMSTATE #c",
        "@badges=;color= :tmi.twitch.tv USERSTATE #c",
        "PING :tmi.twitch.tv",
        ":justinfan1!justinfan1@justinfan1.tmi.twitch.tv JOIN #c",
        ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!",
    ],
)
def test_other_commands_are_not_chat(line: str) -> None:
    assert parse(line) is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("@tags-only-no-space", "IRC tags without a command"),
        (":prefix-only", "IRC prefix without a command"),
        ("hello world", "not an IRC command"),
        (f"{PREFIX} PRIVMSG nochannel :x", "PRIVMSG without a #channel"),
        (":tmi.twitch.tv PRIVMSG #c :x", "PRIVMSG without a sender"),
        (f"@tmi-sent-ts=soon {PREFIX} PRIVMSG #c :x", "tmi-sent-ts is not a number"),
        (f"@bits=lots {PREFIX} PRIVMSG #c :x", "tag bits is not a number"),
    ],
)
def test_bad_lines(line: str, reason: str) -> None:
    with pytest.raises(BadLine, match=reason):
        parse(line)


GOOD = f"@id=m1;tmi-sent-ts=1000 {PREFIX} PRIVMSG #c :first"
BAD = "this is not irc"


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_file_non_strict_skips_and_counts_bad_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.irc", GOOD, BAD, "", ":tmi.twitch.tv ROOMSTATE #c", BAD, BAD, BAD, BAD, BAD
    )
    log = open_log(path, format="irc")
    events = list(log)
    assert [e.id for e in events if isinstance(e, ChatMessage)] == ["m1"]
    assert log.stats.lines == 9
    assert log.stats.events == 1
    assert log.stats.messages == 1
    assert log.stats.skipped == 6
    assert len(log.stats.first_reasons) == 5
    assert log.stats.first_reasons[0] == f"{path}:2: not an IRC command: 'this'"
    assert log.stats.first_reasons[1].startswith(f"{path}:5: ")


def test_file_strict_raises_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.irc", GOOD, GOOD, BAD)
    log = open_log(path, format="irc", strict=True)
    with pytest.raises(ChatLogError) as caught:
        list(log)
    assert caught.value.line == 3
    assert str(caught.value) == f"{path}:3: not an IRC command: 'this'"


def test_crlf_and_a_stray_carriage_return(tmp_path: Path) -> None:
    path = tmp_path / "c.irc"
    path.write_bytes(f"{GOOD}\r\n{PREFIX} PRIVMSG #c :a\rb\r\n".encode())
    texts = [e.text for e in open_log(path, format="irc") if isinstance(e, ChatMessage)]
    assert texts == ["first", "a\rb"]


def test_recent_messages_json_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "recent.json"
    lines = [GOOD, "@tmi-sent-ts=2000 :tmi.twitch.tv CLEARCHAT #c :bad_guy", BAD]
    path.write_text(
        json.dumps({"error": None, "messages": [*lines, 42]}, indent=1), encoding="utf-8"
    )
    log = open_log(path)
    assert log.format == "irc_json"
    events = list(log)
    assert [type(e).__name__ for e in events] == ["ChatMessage", "Moderation"]
    assert log.stats.skipped == 2
    assert "message 3: not an IRC command" in log.stats.first_reasons[0]
    assert "message 4: not a string" in log.stats.first_reasons[1]
    with pytest.raises(ChatLogError, match="message 3"):
        list(open_log(path, strict=True))


def test_recent_messages_json_without_messages_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "recent.json"
    path.write_text('{"error": "channel not found", "messages": "nope"}', encoding="utf-8")
    with pytest.raises(ChatLogError, match="not a list"):
        list(open_log(path, format="irc_json"))
