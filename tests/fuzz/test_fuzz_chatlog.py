"""Fuzzing the chat-log readers: any bytes, IRC-ish lines, JSON-ish documents, CSV-ish rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohost.chatlog import FORMATS, detect_format, open_log
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage, Role
from tests.fuzz import fuzz

# Formats read line by line: a bad line is skipped, never the whole file.
LINE_FORMATS = ("irc", "chatterino", "tcd", "overrustle", "lines")
# Formats whose shape (a JSON document, a CSV header) can fail the whole read, even non-strict.
SHAPE_FORMATS = tuple(f for f in FORMATS if f not in LINE_FORMATS)

# Text that looks like pieces of real logs, so random lines often get past the first check.
FRAGMENTS = (
    "@",
    ":",
    " ",
    ";",
    "=",
    "\\",
    "\\s",
    "#",
    "!",
    "PRIVMSG",
    "USERNOTICE",
    "CLEARCHAT",
    "CLEARMSG",
    "PING",
    "001",
    "#chan",
    "tmi-sent-ts=",
    "badges=moderator/1,subscriber/12",
    "bits=",
    "emotes=25:0-4",
    "\x01ACTION ",
    "[0:00:01] ",
    "[12:34:56] ",
    "[2024-01-06 22:05:18 UTC] ",
    "# Start logging at 2024-01-06 10:00:00 +0200",
    "<~@%nick> ",
    "*nick ",
    "nick: ",
    "99999999999999999999999999999",
    "-1",
    "1e400",
    "\r",
    "\u2028",
    "\x85",
    "\ufeff",
    "é",
    "🦆",
)
line_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=12).map(
    "".join
)
lines_strategy = st.lists(line_text, max_size=12).map("\n".join)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _check_located(exc: ChatLogError, path: Path, data: bytes) -> None:
    """A chat-log error starts `file: ` or `file:line: ` with a line that is in the file."""
    text = str(exc)
    assert exc.path == str(path)
    if exc.line is None:
        assert text.startswith(f"{path}: "), text
    else:
        assert text.startswith(f"{path}:{exc.line}: "), text
        assert exc.line >= 1


def _read_all(path: Path, fmt: str, strict: bool) -> list[object]:
    return list(open_log(path, format=fmt, strict=strict))


def _check_messages(events: list[object]) -> None:
    for event in events:
        if isinstance(event, ChatMessage):
            assert event.login == event.login.lower()
            assert event.roles <= set(Role)


def _read_every_format(tmp_path: Path, data: bytes, suffix: str = ".log") -> None:
    path = _write(tmp_path, f"fuzz-chan{suffix}", data)
    for fmt in FORMATS:
        try:
            events = _read_all(path, fmt, strict=False)
        except ChatLogError as exc:
            # Non-strict reading fails only on a file whose whole shape is wrong.
            assert fmt in SHAPE_FORMATS or path.read_bytes()[:2] == b"\x1f\x8b", (fmt, exc)
            _check_located(exc, path, data)
            continue
        _check_messages(events)
        for strict in (True,):
            try:
                strict_events = _read_all(path, fmt, strict=strict)
            except ChatLogError as exc:
                _check_located(exc, path, data)
            else:
                assert len(strict_events) == len(events)  # nothing was skipped, so same events
    try:
        assert detect_format(path) in FORMATS
    except ChatLogError as exc:
        _check_located(exc, path, data)


@fuzz(150)
@given(data=st.binary(max_size=600))
def test_any_bytes_never_break_a_reader(tmp_path: Path, data: bytes) -> None:
    _read_every_format(tmp_path, data)


@fuzz(100)
@given(text=lines_strategy)
def test_log_like_lines_never_break_a_reader(tmp_path: Path, text: str) -> None:
    _read_every_format(tmp_path, text.encode("utf-8", "surrogatepass"))


@fuzz(60)
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=400))
def test_broken_gzip_is_a_chat_log_error(tmp_path: Path, data: bytes, cut: int) -> None:
    """A gzip stream cut short or corrupted ends in ChatLogError, whatever the reader."""
    packed = gzip.compress(data)
    for variant in (packed[:cut], b"\x1f\x8b" + data, packed[:10] + data):
        _read_every_format(tmp_path, variant, suffix=".log.gz")


# --- raw IRC with IRCv3 tags --------------------------------------------------------------

TAG_KEYS = (
    "tmi-sent-ts",
    "badges",
    "bits",
    "display-name",
    "emotes",
    "emote-only",
    "id",
    "login",
    "mod",
    "vip",
    "first-msg",
    "user-id",
    "msg-id",
    "msg-param-cumulative-months",
    "msg-param-months",
    "msg-param-viewerCount",
    "msg-param-recipient-user-name",
    "system-msg",
    "ban-duration",
    "target-msg-id",
    "reply-parent-msg-id",
    "reply-parent-user-login",
)
tag_value = st.one_of(
    st.text(alphabet=st.characters(exclude_characters=" ;\n\r"), max_size=20),
    st.integers().map(str),
    st.integers(min_value=10**300, max_value=10**400).map(str),
    st.sampled_from(["", "1", "0", "-5", "1e9", "\\", "\\s\\:\\\\", "sub", "raid", "1.5"]),
)
tags_strategy = st.dictionaries(
    st.one_of(
        st.sampled_from(TAG_KEYS),
        st.text(alphabet=st.characters(exclude_characters=" ;=\n\r"), max_size=6),
    ),
    tag_value,
    max_size=8,
).map(lambda tags: ";".join(f"{k}={v}" for k, v in tags.items()))
irc_line = st.builds(
    lambda tags, prefix, command, target, text: (
        (f"@{tags} " if tags else "")
        + (f":{prefix} " if prefix else "")
        + f"{command} {target} :{text}"
    ),
    tags_strategy,
    st.one_of(st.just(""), st.sampled_from(["nick!nick@nick.tmi.twitch.tv", "tmi.twitch.tv"])),
    st.sampled_from(
        ["PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG", "PING", "001", "privmsg", "X-1"]
    ),
    st.sampled_from(["#chan", "#", "chan", "", "#Chan"]),
    st.text(max_size=30).map(lambda t: t.replace("\n", " ")),
)


@fuzz(100)
@given(lines=st.lists(irc_line, min_size=1, max_size=8))
def test_irc_lines_with_random_tags(tmp_path: Path, lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    path = _write(tmp_path, "chan.log", data)
    events = _read_all(path, "irc", strict=False)
    _check_messages(events)
    try:
        _read_all(path, "irc", strict=True)
    except ChatLogError as exc:
        _check_located(exc, path, data)
        assert exc.line is not None and exc.line <= len(lines)
    # The same lines as a recent-messages document.
    document = json.dumps({"messages": lines}).encode()
    json_path = _write(tmp_path, "chan.json", document)
    assert len(_read_all(json_path, "irc_json", strict=False)) == len(events)


def test_irc_timestamp_too_large_for_a_float_is_a_bad_line(tmp_path: Path) -> None:
    """Found by fuzzing: a 400-digit tmi-sent-ts raised OverflowError out of the reader."""
    line = "@tmi-sent-ts=" + "9" * 400 + " :a!a@a PRIVMSG #c :hi\n"
    path = _write(tmp_path, "c.log", line.encode())
    assert _read_all(path, "irc", strict=False) == []
    with pytest.raises(ChatLogError, match=r"c\.log:1: "):
        _read_all(path, "irc", strict=True)


# --- JSON: recent-messages, rechat, TwitchDownloader ----------------------------------------

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["2024-01-06T10:00:00Z", "2024-01-06T10:00:00.5+02:00", "9999-12-31", "x"]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
comment = st.fixed_dictionaries(
    {},
    optional={
        "_id": json_value,
        "created_at": json_scalar,
        "content_offset_seconds": json_scalar,
        "commenter": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {}, optional={"name": json_scalar, "display_name": json_scalar, "_id": json_scalar}
            ),
        ),
        "message": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {},
                optional={
                    "body": json_scalar,
                    "bits_spent": json_scalar,
                    "is_action": json_scalar,
                    "fragments": json_value,
                    "user_badges": st.one_of(
                        json_value,
                        st.lists(
                            st.fixed_dictionaries({"_id": json_scalar, "version": json_scalar}),
                            max_size=3,
                        ),
                    ),
                },
            ),
        ),
    },
)
video = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.one_of(json_value, st.fixed_dictionaries({"name": json_scalar})),
        "user_login": json_scalar,
        "recorded_at": json_scalar,
        "created_at": json_scalar,
    },
)
documents = st.one_of(
    st.builds(lambda v, cs: [v, *cs], video, st.lists(comment, max_size=5)),
    st.fixed_dictionaries(
        {"comments": st.lists(st.one_of(comment, json_value), max_size=5)},
        optional={"streamer": json_value, "video": video, "embeddedData": json_value},
    ),
    st.fixed_dictionaries(
        {"messages": st.lists(st.one_of(irc_line, json_scalar), max_size=5)},
        optional={"error": json_value},
    ),
    json_value,
)


@fuzz(120)
@given(document=documents, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=400)))
def test_json_formats_on_random_documents(
    tmp_path: Path, document: object, cut: int | None
) -> None:
    text = json.dumps(document, ensure_ascii=False)
    if cut is not None:
        text = text[:cut]  # a truncated download
    data = text.encode("utf-8", "surrogatepass")
    path = _write(tmp_path, "vod.json", data)
    for fmt in ("irc_json", "rechat", "twitchdownloader"):
        for strict in (False, True):
            try:
                _check_messages(_read_all(path, fmt, strict=strict))
            except ChatLogError as exc:
                _check_located(exc, path, data)
    try:
        assert detect_format(path) in FORMATS
    except ChatLogError as exc:
        _check_located(exc, path, data)


@pytest.mark.parametrize(
    "offset", ["9" * 400, "9" * 5000], ids=["too-large-for-a-float", "too-many-digits"]
)
def test_rechat_huge_numbers_are_bad_comments(tmp_path: Path, offset: str) -> None:
    """Found by fuzzing: a huge offset raised OverflowError, a 5000-digit one ValueError."""
    body = '{"commenter":{"name":"x"},"message":{"body":"hi"},"content_offset_seconds":'
    path = _write(tmp_path, "v.json", f"[{{}}, {body}{offset}}}]".encode())
    with pytest.raises(ChatLogError, match=r"v\.json:1: "):
        _read_all(path, "rechat", strict=True)
    try:
        _read_all(path, "rechat", strict=False)
    except ChatLogError as exc:  # a number Python's JSON refuses fails the document
        _check_located(exc, path, b"")


# --- CSV ------------------------------------------------------------------------------------

csv_cell = st.one_of(
    st.text(max_size=15),
    st.sampled_from(['"', '""', ",", "\r\n", "1700000000", "1700000000000", "0:01:02", "9" * 400]),
)


@fuzz(150)
@given(
    header=st.sampled_from(
        ["time,user_name,user_id,message", "timestamp,username,message,badges", "a,b,c"]
    ),
    rows=st.lists(st.lists(csv_cell, max_size=5).map(",".join), max_size=6),
)
def test_csv_rows(tmp_path: Path, header: str, rows: list[str]) -> None:
    data = "\n".join([header, *rows]).encode("utf-8", "surrogatepass")
    path = _write(tmp_path, "chat.csv", data)
    for strict in (False, True):
        try:
            _check_messages(_read_all(path, "csv", strict=strict))
        except ChatLogError as exc:
            _check_located(exc, path, data)


# --- Twitch-Chat-Downloader: what is written reads back --------------------------------------

tcd_text = st.text(
    alphabet=st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=60
).filter(lambda t: t == t.rstrip("\r"))


@fuzz(100)
@given(
    messages=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=99 * 3600),
            st.sampled_from(["", "~", "@", "%", "@%", "$+"]),
            st.from_regex(r"[A-Za-z0-9_]{1,25}", fullmatch=True),
            tcd_text,
        ),
        min_size=1,
        max_size=10,
    )
)
def test_tcd_lines_read_back_exactly(
    tmp_path: Path, messages: list[tuple[int, str, str, str]]
) -> None:
    """Any text without a newline, U+2028 and U+0085 included, stays one message, unchanged."""
    messages = sorted(messages, key=lambda m: m[0])  # in time order: logs are read sorted
    lines = [
        f"[{ts // 3600}:{ts // 60 % 60:02d}:{ts % 60:02d}] <{badges}{nick}> {text}"
        for ts, badges, nick, text in messages
    ]
    path = _write(tmp_path, "vod.txt", "\n".join(lines).encode())
    events = _read_all(path, "tcd", strict=True)
    assert len(events) == len(messages)
    for event, (ts, _, nick, text) in zip(events, messages, strict=True):
        assert isinstance(event, ChatMessage)
        assert (event.ts, event.login, event.text) == (float(ts), nick.lower(), text)


def test_a_corrupt_gzip_stream_is_a_chat_log_error(tmp_path: Path) -> None:
    """Found by fuzzing: zlib.error and EOFError escaped detect_format and the readers."""
    for data in (b"\x1f\x8b", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage!"):
        path = _write(tmp_path, "chan.log.gz", data)
        with pytest.raises(ChatLogError, match=r"chan\.log\.gz: cannot read"):
            detect_format(path)
        with pytest.raises(ChatLogError, match=r"chan\.log\.gz: cannot read"):
            _read_all(path, "tcd", strict=False)


def test_a_stray_carriage_return_does_not_break_detection(tmp_path: Path) -> None:
    """Found by fuzzing: csv.Error escaped detect_format on a first line with a lone CR."""
    path = _write(tmp_path, "chan.log", b"a,b\rc\n")
    with pytest.raises(ChatLogError, match="cannot tell the chat log format"):
        detect_format(path)
