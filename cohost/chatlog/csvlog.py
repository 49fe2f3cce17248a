"""CSV with a header row: known column layouts are recognised, any other is mapped by the caller."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from typing import TextIO

from cohost.chatlog.base import BadLine, ReadContext, bounded_lines, parse_badges, parse_when
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatEvent, ChatMessage

REQUIRED = ("ts", "login", "text")
OPTIONAL = ("display_name", "user_id", "id", "channel", "badges", "bits")

# The header names each role is known by, in order of preference (compared lowercased and
# trimmed): Helix's spellings (chatter_user_login / chatter_user_name), bot loggers' and
# spreadsheet exports' own. A header with a name for each required role is read as such.
COLUMN_NAMES: Mapping[str, tuple[str, ...]] = {
    "ts": (
        "ts", "timestamp", "time", "datetime", "date", "created_at", "sent_at", "sent",
        "created", "date_time", "time_stamp", "tmi_sent_ts", "server_timestamp",
        "content_offset_seconds", "offset", "offset_seconds", "seconds", "video_offset",
    ),
    "login": (
        "login", "user_login", "chatter_user_login", "username", "user_name", "user",
        "chatter_user_name", "author", "nick", "nickname", "sender", "chatter", "name",
        "commenter", "commenter_login", "commenter_name", "commenter_display_name",
        "author_name", "user_display_name", "display_name", "displayname", "from", "viewer",
    ),
    "text": (
        "message", "text", "msg", "body", "content", "comment", "message_body", "message_text",
        "chat_message", "comment_text", "msg_text",
    ),
    "display_name": (
        "display_name", "displayname", "user_display_name", "chatter_user_name", "user_name",
        "commenter_display_name",
    ),
    "user_id": ("user_id", "userid", "chatter_user_id", "commenter_id", "author_id"),
    "id": ("id", "message_id", "msg_id", "comment_id", "_id"),
    "channel": ("channel", "channel_name", "broadcaster_user_login", "room", "streamer"),
    "badges": ("badges", "user_badges"),
    "bits": ("bits", "bits_spent"),
}  # fmt: skip
# `--columns time=COL,user=COL,text=COL`: the names people use for each role.
COLUMN_ROLES: Mapping[str, str] = {
    "time": "ts", "ts": "ts", "timestamp": "ts",
    "user": "login", "login": "login",
    "text": "text", "message": "text",
    "name": "display_name", "display_name": "display_name",
    "user_id": "user_id", "id": "id", "channel": "channel", "badges": "badges", "bits": "bits",
}  # fmt: skip


def parse_columns(spec: str) -> dict[str, str]:
    """`time=created,user=commenter,text=body` → a column mapping by role; ValueError if bad."""
    columns: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        key, eq, column = item.partition("=")
        role = COLUMN_ROLES.get(key.strip().lower())
        if not eq or not column.strip():
            raise ValueError(f"{item.strip()!r} is not ROLE=COLUMN")
        if role is None:
            raise ValueError(
                f"unknown column role {key.strip()!r}; roles: {', '.join(COLUMN_ROLES)}"
            )
        if role in columns:
            raise ValueError(f"column role {key.strip()!r} given twice")
        columns[role] = column.strip()
    missing = [name for name, role in (("time", "ts"), ("user", "login"), ("text", "text"))
               if role not in columns]  # fmt: skip
    if missing:
        raise ValueError(f"--columns needs {', '.join(missing)} (time=COL,user=COL,text=COL)")
    return columns


def _normal(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


def match_schema(header: Sequence[str]) -> Mapping[str, str] | None:
    """Each role's column by the names it is known by, if the header has every required one.

    A column serves one role: the login's (chatter_user_name) is not the display name's too.
    """
    names = {_normal(name): name for name in header}
    columns: dict[str, str] = {}
    taken: set[str] = set()
    for role, known in COLUMN_NAMES.items():
        found = next((name for name in known if name in names and name not in taken), None)
        if found is not None:
            columns[role] = names[found]
            taken.add(found)
    if not all(role in columns for role in REQUIRED):
        return None
    return columns


def known_columns() -> str:
    """What the header may call the required columns, for an error that says so."""
    return "; ".join(f"{role}: {', '.join(COLUMN_NAMES[role])}" for role in REQUIRED)


def _positions(
    header: Sequence[str], columns: Mapping[str, str], ctx: ReadContext
) -> dict[str, int]:
    unknown = sorted(set(columns) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ctx.fail(
            f"unknown CSV column roles {unknown}; roles are {', '.join(REQUIRED + OPTIONAL)}"
        )
    missing = [role for role in REQUIRED if role not in columns]
    if missing:
        raise ctx.fail(f"the CSV column mapping lacks {', '.join(missing)}")
    index = {_normal(name): i for i, name in enumerate(header)}
    positions: dict[str, int] = {}
    for role, column in columns.items():
        where = index.get(_normal(column))
        if where is None:
            raise ctx.fail(f"no CSV column {column!r} (header: {', '.join(header)})", 1)
        positions[role] = where
    return positions


def read_csv(ctx: ReadContext, f: TextIO) -> Iterator[ChatEvent]:
    """Rows after the header; the mapping is `ctx.csv_columns` or a recognised layout."""
    rows = csv.reader(raw for _, raw in bounded_lines(ctx, f))
    stats = ctx.stats
    try:
        header = next(rows, None)
    except csv.Error as exc:
        raise ChatLogError(f"bad CSV header: {exc}", path=ctx.path, line=1) from None
    if header is None:
        raise ctx.fail("the CSV file is empty")
    columns = ctx.csv_columns or match_schema(header)
    if columns is None:
        raise ctx.fail(
            f"unknown CSV columns ({', '.join(header)}); the header needs a column for each of "
            f"{known_columns()}; or name them: --columns time=COL,user=COL,text=COL",
            1,
        )
    at = _positions(header, columns, ctx)
    width = max(at.values()) + 1
    ts_at, login_at, text_at = at["ts"], at["login"], at["text"]
    optional = {role: at.get(role) for role in OPTIONAL}
    name_at, user_at, id_at = optional["display_name"], optional["user_id"], optional["id"]
    channel_at, badges_at, bits_at = optional["channel"], optional["badges"], optional["bits"]
    fmt, default_channel = ctx.format, ctx.channel
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            stats.lines = rows.line_num
            ctx.bad(rows.line_num, f"bad CSV: {exc}")
            continue
        number = rows.line_num
        stats.lines = number
        if not row:
            continue
        try:
            if len(row) < width:
                raise BadLine(f"{len(row)} fields, the mapping needs {width}")
            name = row[login_at].strip()
            if not name:
                raise BadLine("empty user name")
            badges, roles = (
                parse_badges(row[badges_at]) if badges_at is not None else ((), frozenset())
            )
            bits = 0
            if bits_at is not None and row[bits_at].strip():
                try:
                    bits = int(row[bits_at])
                except ValueError:
                    raise BadLine(f"bits is not a number: {row[bits_at][:20]!r}") from None
            yield ChatMessage(
                id=(row[id_at] if id_at is not None else "") or f"{fmt}:{number}",
                channel=(
                    row[channel_at].strip().lstrip("#").lower() if channel_at is not None else ""
                )
                or default_channel,
                login=name.lower(),
                display_name=(row[name_at] if name_at is not None else "") or name,
                text=row[text_at],
                ts=parse_when(row[ts_at]),
                user_id=row[user_at] if user_at is not None else "",
                roles=roles,
                badges=badges,
                bits=bits,
            )
        except BadLine as exc:
            ctx.bad(number, str(exc))
