"""Raw Twitch IRC with IRCv3 tags, one message a line, and the recent-messages JSON around it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

from cohost.chatlog.base import BadLine, ReadContext, iter_lines, parse_badges
from cohost.chatlog.jsonstream import JsonShapeError, JsonStream
from cohost.core.events import ChatEvent, ChatMessage, Moderation, Role, UserNotice, UserNoticeKind

_UNESCAPES = {"s": " ", ":": ";", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)

NOTICE_KINDS: Mapping[str, UserNoticeKind] = {
    "sub": "sub",
    "resub": "resub",
    "subgift": "subgift",
    "anonsubgift": "subgift",
    "submysterygift": "submysterygift",
    "anonsubmysterygift": "submysterygift",
    "raid": "raid",
    "announcement": "announcement",
}


def _unescape_match(match: re.Match[str]) -> str:
    char = match.group(1)
    return _UNESCAPES.get(char, char)  # unknown escapes drop the backslash; a lone one vanishes


def unescape_tag(value: str) -> str:
    """An IRCv3 tag value as text: `\\s` space, `\\:` semicolon, `\\\\`, `\\r`, `\\n`."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(_unescape_match, value)


def parse_tags(text: str) -> dict[str, str]:
    """`a=1;b=x\\sy;c` → raw (still escaped) values; a later duplicate wins."""
    tags: dict[str, str] = {}
    if not text:
        return tags
    for item in text.split(";"):
        key, _, value = item.partition("=")
        tags[key] = value
    return tags


def emote_only(text: str, emotes: str) -> bool:
    """Whether the `emotes` tag's ranges cover every non-space character of the text."""
    if not emotes or not text:
        return False
    size = len(text)
    # Cheap refusal for most lines: some range must start the text and one must end it.
    if (text[0] != " " and ":0-" not in emotes) or (
        text[-1] != " " and f"-{size - 1}" not in emotes
    ):
        return False
    spans: list[tuple[int, int]] = []
    for group in emotes.split("/"):
        for span in group.partition(":")[2].split(","):
            first, dash, last = span.partition("-")
            if dash and first.isdigit() and last.isdigit():
                start, end = int(first), int(last)
                if start <= end < size:  # hand-edited or stale ranges are ignored, not trusted
                    spans.append((start, end))
    if not spans:
        return False
    spans.sort()
    position = 0
    for start, end in spans:
        if start > position and not text[position:start].isspace():
            return False
        position = max(position, end + 1)
    return position >= size or text[position:].isspace()


def _is_command(word: str) -> bool:
    return word.isascii() and (
        (word.isalpha() and word.isupper()) or (len(word) == 3 and word.isdigit())
    )


def _int_tag(tags: Mapping[str, str], key: str) -> int:
    value = tags.get(key)
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise BadLine(f"tag {key} is not a number: {value[:20]!r}") from None


Handler = Callable[["IrcParser", dict[str, str], str, str, str, int], ChatEvent]


class IrcParser:
    """Turns one raw IRC line into a chat event, or None for commands that are not chat."""

    def __init__(self, fmt: str = "irc") -> None:
        self.fmt = fmt
        self.last_ts = 0.0  # lines without tmi-sent-ts keep the time of the line before

    def parse(self, line: str, number: int) -> ChatEvent | None:
        """Parse one line; raises BadLine for text that is not IRC at all."""
        tag_text = ""
        rest = line
        if rest[0] == "@":
            space = rest.find(" ")
            if space < 0:
                raise BadLine("IRC tags without a command")
            tag_text = rest[1:space]
            rest = rest[space + 1 :].lstrip(" ")
        prefix = ""
        if rest[:1] == ":":
            space = rest.find(" ")
            if space < 0:
                raise BadLine("IRC prefix without a command")
            prefix = rest[1:space]
            rest = rest[space + 1 :].lstrip(" ")
        command, _, rest = rest.partition(" ")
        handler = _HANDLERS.get(command)
        if handler is None:
            if _is_command(command):
                return None  # ROOMSTATE, USERSTATE, NOTICE, PING, JOIN, numerics…: not chat
            raise BadLine(f"not an IRC command: {command[:30]!r}")
        target, _, tail = rest.lstrip(" ").partition(" ")
        if target[:1] != "#" or len(target) < 2:
            raise BadLine(f"{command} without a #channel")
        # A trailing parameter with ':' is taken whole; without one, the rest of the line is text.
        text = tail[1:] if tail[:1] == ":" else tail
        return handler(self, parse_tags(tag_text), prefix, target[1:].lower(), text, number)

    def timestamp(self, tags: Mapping[str, str]) -> float:
        """tmi-sent-ts in seconds, or the last known time."""
        value = tags.get("tmi-sent-ts")
        if value:
            try:
                self.last_ts = int(value) / 1000.0
            except (ValueError, OverflowError):
                raise BadLine(f"tmi-sent-ts is not a number: {value[:20]!r}") from None
        return self.last_ts

    def privmsg(
        self, tags: dict[str, str], prefix: str, channel: str, text: str, number: int
    ) -> ChatEvent:
        """A chat message."""
        nick, bang, host = prefix.partition("!")
        if not bang and "." in nick:
            nick = ""  # a server name, not a user (nicks have no dots)
        login = (nick or tags.get("login") or host.partition("@")[0]).lower()
        if not login:
            raise BadLine("PRIVMSG without a sender")
        action = False
        if text[:1] == "\x01":
            inner = text[1:].removesuffix("\x01")
            if inner == "ACTION" or inner.startswith("ACTION "):
                action = True
                text = inner[7:]
        badges, roles = parse_badges(tags.get("badges", ""))
        if tags.get("mod") == "1" or tags.get("vip") == "1":
            extra = {Role.MODERATOR} if tags.get("mod") == "1" else set()
            if tags.get("vip") == "1":
                extra.add(Role.VIP)
            roles = roles | extra
        return ChatMessage(
            id=tags.get("id") or f"{self.fmt}:{number}",
            channel=channel,
            login=login,
            display_name=unescape_tag(tags.get("display-name", "")) or nick or login,
            text=text,
            ts=self.timestamp(tags),
            user_id=tags.get("user-id", ""),
            roles=roles,
            badges=badges,
            first_msg=tags.get("first-msg") == "1",
            bits=_int_tag(tags, "bits"),
            action=action,
            emote_only=tags.get("emote-only") == "1" or emote_only(text, tags.get("emotes", "")),
            reply_parent_id=tags.get("reply-parent-msg-id") or None,
            reply_parent_login=unescape_tag(tags.get("reply-parent-user-login", "")) or None,
        )

    def usernotice(
        self, tags: dict[str, str], prefix: str, channel: str, text: str, number: int
    ) -> ChatEvent:
        """A sub, gift, raid, announcement or another notice.

        Older logs mark a first-time chatter with a notice of its own: the `new_chatter` ritual
        carries their first message, which is read as that message, flagged `first_msg`.
        """
        msg_id = tags.get("msg-id", "")
        ritual = tags.get("msg-param-ritual-name")
        if msg_id == "ritual" and ritual == "new_chatter" and text and tags.get("login"):
            return self.privmsg({**tags, "first-msg": "1"}, prefix, channel, text, number)
        login = unescape_tag(tags.get("login", "")).lower()
        if not login and "!" in prefix:
            login = prefix.partition("!")[0].lower()
        _, roles = parse_badges(tags.get("badges", ""))
        recipient = unescape_tag(
            tags.get("msg-param-recipient-user-name") or tags.get("msg-param-recipient-name", "")
        )
        months = _int_tag(tags, "msg-param-cumulative-months") or _int_tag(tags, "msg-param-months")
        return UserNotice(
            id=tags.get("id") or f"{self.fmt}:{number}",
            channel=channel,
            kind=NOTICE_KINDS.get(msg_id, "other"),
            msg_id=msg_id,
            login=login,
            display_name=unescape_tag(tags.get("display-name", "")) or login,
            text=text,
            system_text=unescape_tag(tags.get("system-msg", "")),
            ts=self.timestamp(tags),
            user_id=tags.get("user-id", ""),
            roles=roles,
            months=months,
            viewers=_int_tag(tags, "msg-param-viewerCount"),
            recipient=recipient.lower() or None,
            in_community_gift=bool(tags.get("msg-param-community-gift-id")),
            gifts=_int_tag(tags, "msg-param-mass-gift-count"),
        )

    def clearchat(
        self, tags: dict[str, str], prefix: str, channel: str, text: str, number: int
    ) -> ChatEvent:
        """A timeout, a ban, or the whole chat cleared."""
        target = text.strip().lower()
        ts = self.timestamp(tags)
        if not target:
            return Moderation(kind="clear", channel=channel, ts=ts)
        if tags.get("ban-duration"):
            duration = _int_tag(tags, "ban-duration")
            return Moderation(
                kind="timeout", channel=channel, ts=ts, target_login=target, duration=duration
            )
        return Moderation(kind="ban", channel=channel, ts=ts, target_login=target)

    def clearmsg(
        self, tags: dict[str, str], prefix: str, channel: str, text: str, number: int
    ) -> ChatEvent:
        """One deleted message."""
        return Moderation(
            kind="delete",
            channel=channel,
            ts=self.timestamp(tags),
            target_login=unescape_tag(tags.get("login", "")).lower() or None,
            target_message_id=tags.get("target-msg-id") or None,
            text=text,
        )


_HANDLERS: dict[str, Handler] = {
    "PRIVMSG": IrcParser.privmsg,
    "USERNOTICE": IrcParser.usernotice,
    "CLEARCHAT": IrcParser.clearchat,
    "CLEARMSG": IrcParser.clearmsg,
}


def read_irc(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """Raw IRC, one line per message."""
    return iter_lines(ctx, f, IrcParser(ctx.format).parse)


def read_irc_json(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """The recent-messages API shape: `{"messages": ["@… PRIVMSG …", …]}`, streamed."""
    stream = JsonStream(f)
    parser = IrcParser(ctx.format)
    stats = ctx.stats
    try:
        for key in stream.members():
            if key != "messages":
                stream.skip_value()
                continue
            if stream.peek() != "[":
                raise ctx.fail('"messages" is not a list', stream.line())
            for index, line, value in stream.items():
                stats.lines = index
                if not isinstance(value, str):
                    ctx.bad(line, f"message {index}: not a string")
                    continue
                text = value.rstrip("\r\n")
                if not text or text.isspace():
                    continue
                try:
                    event = parser.parse(text, index)
                except BadLine as exc:
                    ctx.bad(line, f"message {index}: {exc}")
                    continue
                if event is not None:
                    yield event
            return  # the rest of the document (error fields) carries no chat
    except JsonShapeError as exc:
        raise ctx.fail(str(exc), exc.line) from None
    raise ctx.fail('no "messages" list: not a recent-messages JSON file')
