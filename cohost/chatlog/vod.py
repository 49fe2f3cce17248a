"""VOD chat as JSON: rechat-dl lists and TwitchDownloader files, both of Twitch's v5 comments.

Comments are checked by hand rather than through a pydantic model: validating each comment cost
more than the rest of the read path together, and only a handful of fields are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from cohost.chatlog.base import BadLine, ReadContext, iso_epoch, parse_badges
from cohost.chatlog.jsonstream import JsonShapeError, JsonStream
from cohost.core.events import ChatEvent, ChatMessage, Role


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise BadLine(f"{what} is not an object")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _is_emote_only(fragments: object) -> bool:
    """True when every fragment with visible text is an emoticon (and there is one)."""
    if not isinstance(fragments, list) or not fragments:
        return False
    seen = False
    for fragment in fragments:
        if not isinstance(fragment, dict):
            return False
        if fragment.get("emoticon"):
            seen = True
        elif _text(fragment.get("text")).strip():
            return False
    return seen


class CommentReader:
    """Turns v5 comment objects into chat messages."""

    def __init__(self, fmt: str, channel: str) -> None:
        self.fmt = fmt
        self.channel = channel
        self.start: float | None = None  # the video's start, for comments without created_at

    def video(self, video: object, *, channel_known: bool = False) -> None:
        """Take the channel and start time from a v5 video object (rechat) or TwitchDownloader's."""
        if not isinstance(video, dict):
            return
        channel = video.get("channel")
        if channel_known:
            pass
        elif isinstance(channel, dict) and _text(channel.get("name")):
            self.channel = _text(channel.get("name")).lower()
        elif _text(video.get("user_login")):
            self.channel = _text(video.get("user_login")).lower()
        for key in ("recorded_at", "created_at"):
            when = _text(video.get(key))
            if when:
                try:
                    self.start = iso_epoch(when)
                except BadLine:
                    continue
                break

    def streamer(self, streamer: object) -> None:
        """TwitchDownloader's `streamer` names the channel."""
        if isinstance(streamer, dict):
            name = _text(streamer.get("login")) or _text(streamer.get("name"))
            if name:
                self.channel = name.lower()

    def comment(self, value: object, index: int) -> ChatMessage:
        """One v5 comment."""
        try:
            # The shape every real comment has; anything else gets the careful path below.
            commenter: dict[str, object] = value["commenter"]  # type: ignore[index]
            message: dict[str, object] = value["message"]  # type: ignore[index]
            name = commenter["name"]
            body = message["body"]
        except (KeyError, TypeError):
            return self._checked(value, index)
        if type(name) is not str or not name or type(body) is not str:
            return self._checked(value, index)
        comment: dict[str, object] = value  # type: ignore[assignment]
        created = comment.get("created_at")
        if type(created) is str and created:
            ts = _utc_epoch(created)
        else:
            offset = comment.get("content_offset_seconds")
            if not isinstance(offset, int | float):
                raise BadLine("comment has neither created_at nor content_offset_seconds")
            try:
                ts = (self.start or 0.0) + float(offset)
            except OverflowError:
                raise BadLine("content_offset_seconds is out of range") from None
        badges: tuple[tuple[str, str], ...] = ()
        roles: frozenset[Role] = frozenset()
        user_badges = message.get("user_badges")
        if user_badges:
            badges, roles = _badges(user_badges)
        display_name = commenter.get("display_name")
        user_id = commenter.get("_id")
        bits = message.get("bits_spent")
        fragments = message.get("fragments")
        comment_id = comment.get("_id")
        return ChatMessage(
            id=comment_id if type(comment_id) is str and comment_id else f"{self.fmt}:{index}",
            channel=self.channel,
            login=name.lower(),
            display_name=display_name if type(display_name) is str and display_name else name,
            text=body,
            ts=ts,
            user_id=str(user_id) if type(user_id) in (str, int) else "",
            roles=roles,
            badges=badges,
            bits=bits if type(bits) is int else 0,
            action=message.get("is_action") is True,
            emote_only=_is_emote_only(fragments) if fragments else False,
        )

    def _checked(self, value: object, index: int) -> ChatMessage:
        """The comment checked field by field, to say what is wrong with it."""
        comment = _object(value, "the comment")
        commenter = _object(comment.get("commenter"), "commenter")
        message = _object(comment.get("message"), "message")
        if not _text(commenter.get("name")):
            raise BadLine("commenter has no name")
        if not isinstance(message.get("body"), str):
            raise BadLine("message has no body")
        raise BadLine("malformed comment")  # pragma: no cover - the fast path takes the rest


def _badges(user_badges: object) -> tuple[tuple[tuple[str, str], ...], frozenset[Role]]:
    """v5 `user_badges` ([{"_id", "version"}]) as badge pairs and roles."""
    if not isinstance(user_badges, list):
        return (), frozenset()
    parts: list[str] = []
    for badge in user_badges:
        if isinstance(badge, dict):
            name = badge.get("_id")
            version = badge.get("version")
            parts.append(
                f"{name if isinstance(name, str) else ''}/"
                f"{version if isinstance(version, str) else ''}"
            )
    return parse_badges(",".join(parts))


_fromisoformat = datetime.fromisoformat


def _utc_epoch(text: str) -> float:
    """`iso_epoch`, with a fast path for the `…Z` times every v5 comment carries."""
    if text[-1] == "Z":
        try:
            return _fromisoformat(text).timestamp()
        except ValueError:
            pass  # iso_epoch says what is wrong (or reads it after stripping white space)
    return iso_epoch(text)


def _comments(
    ctx: ReadContext, stream: JsonStream, reader: CommentReader, first_is_video: bool
) -> Iterator[ChatEvent]:
    stats = ctx.stats
    for index, line, value in stream.items():
        stats.lines = index
        if first_is_video and index == 1 and isinstance(value, dict) and "commenter" not in value:
            reader.video(value)
            continue
        try:
            event = reader.comment(value, index)
        except BadLine as exc:
            ctx.bad(line, f"comment {index}: {exc}")
            continue
        yield event


def read_rechat(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """rechat-dl: a list whose first element is the video and the rest are comments."""
    stream = JsonStream(f)
    reader = CommentReader(ctx.format, ctx.channel)
    try:
        if stream.peek() != "[":
            raise ctx.fail("rechat JSON must be a list of comments", stream.line())
        yield from _comments(ctx, stream, reader, first_is_video=True)
    except JsonShapeError as exc:
        raise ctx.fail(str(exc), exc.line) from None


def read_twitchdownloader(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """TwitchDownloader: `{"streamer": …, "video": …, "comments": [...], "embeddedData": …}`."""
    stream = JsonStream(f)
    reader = CommentReader(ctx.format, ctx.channel)
    streamer_seen = False
    try:
        for key in stream.members():
            if key == "streamer":
                reader.streamer(stream.value())
                streamer_seen = True
            elif key == "video":
                reader.video(stream.value(), channel_known=streamer_seen)
            elif key == "comments":
                if stream.peek() != "[":
                    raise ctx.fail('"comments" is not a list', stream.line())
                yield from _comments(ctx, stream, reader, first_is_video=False)
                return  # what follows (embeddedData: images) is not chat and may be large
            else:
                stream.skip_value()
    except JsonShapeError as exc:
        raise ctx.fail(str(exc), exc.line) from None
    raise ctx.fail('no "comments" list: not a TwitchDownloader chat file')
