"""TiddlyWiki `.tid` files: header fields, a blank line, the body; pure functions, no I/O.

Round trip: `format_tid(parse_tid(s)) == s` for every `.tid` TiddlyWiki 5 writes itself
(it sorts the header fields by name and puts `name: value` one per line). Known differences
for files written by other tools, by design:

- header fields come back sorted by name (TiddlyWiki's own order), wherever the title was;
- a header line `name:value` or `name :  value` comes back as `name: value` (values are
  trimmed, as TiddlyWiki does when it reads them);
- CRLF line ends in the header come back as LF (the body is kept byte for byte);
- an empty body is written as TiddlyWiki writes it, the header alone with no newline after
  the last field, so a header followed by a blank line and nothing else loses the blank line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cohost.core.errors import JournalFormatError

DATE_FIELDS = ("created", "modified")

# TiddlyWiki's list syntax: a [[bracketed title]] must stand between whitespace (but not
# a no-break space) or the ends; anything else is a run of non-whitespace.
_LIST_ITEM = re.compile(r"(?:^|[^\S\xa0])(?:\[\[(.*?)\]\])(?=[^\S\xa0]|$)|([\S\xa0]+)", re.M)
_NEEDS_BRACKETS = re.compile(r"[^\S\xa0]")
_HEADER_END = re.compile(r"\r?\n\r?\n")
_DATE = re.compile(r"\d{12}(?:\d{2}(?:\d{3})?)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tiddler:
    """One tiddler: its title, its body and every other header field in file order."""

    title: str
    text: str
    fields: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """A field's value; `title` and `text` included."""
        if name == "title":
            return self.title
        if name == "text":
            return self.text
        for key, value in self.fields:
            if key == name:
                return value
        return None

    @property
    def created(self) -> datetime | None:
        """When it was created (aware, UTC), if it says."""
        value = self.get("created")
        return parse_tw_date(value) if value else None

    @property
    def modified(self) -> datetime | None:
        """When it was last changed (aware, UTC), if it says."""
        value = self.get("modified")
        return parse_tw_date(value) if value else None

    @property
    def tags(self) -> tuple[str, ...]:
        """Its tags, `[[multi word]]` ones unbracketed."""
        return parse_tags(self.get("tags") or "")

    @property
    def is_system(self) -> bool:
        """A `$:/` tiddler: TiddlyWiki's own configuration, not writing."""
        return self.title.startswith("$:/")

    def replace_field(self, name: str, value: str | None) -> Tiddler:
        """A copy with one header field set (appended if new) or, for None, removed."""
        if name in ("title", "text"):
            raise ValueError(f"{name} is not a header field")
        kept: list[tuple[str, str]] = []
        found = False
        for key, old in self.fields:
            if key != name:
                kept.append((key, old))
            elif value is not None and not found:
                kept.append((key, value))
                found = True
        if value is not None and not found:
            kept.append((name, value))
        return Tiddler(title=self.title, text=self.text, fields=tuple(kept))


def parse_tw_date(value: str) -> datetime:
    """`YYYYMMDDhhmmssSSS` (UTC; 12- and 14-digit forms too) as an aware datetime."""
    if not _DATE.fullmatch(value):
        raise ValueError(f"not a TiddlyWiki date (YYYYMMDDhhmmssSSS): {value!r}")
    seconds = int(value[12:14]) if len(value) >= 14 else 0
    millis = int(value[14:17]) if len(value) == 17 else 0
    return datetime(
        int(value[0:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[8:10]),
        int(value[10:12]),
        seconds,
        millis * 1000,
        tzinfo=UTC,
    )


def format_tw_date(dt: datetime) -> str:
    """An aware datetime as TiddlyWiki writes it: UTC, `YYYYMMDDhhmmssSSS`."""
    if dt.tzinfo is None:
        raise ValueError("a naive datetime has no place in time; give it a timezone")
    u = dt.astimezone(UTC)
    return f"{u:%Y%m%d%H%M%S}{u.microsecond // 1000:03d}"


def parse_tags(value: str) -> tuple[str, ...]:
    """A TiddlyWiki list (`one two [[three four]]`) as titles, first occurrence kept."""
    seen: dict[str, None] = {}
    for match in _LIST_ITEM.finditer(value):
        item = match.group(1) if match.group(1) is not None else match.group(2)
        seen.setdefault(item, None)
    return tuple(seen)


def format_tags(tags: Iterable[str]) -> str:
    """Titles as a TiddlyWiki list, bracketing those with whitespace."""
    parts = []
    for tag in tags:
        if not tag or "\n" in tag or "\r" in tag:
            raise ValueError(f"not a usable tag: {tag!r}")
        # A no-break space at either end needs brackets too: a header value loses it when trimmed.
        if _NEEDS_BRACKETS.search(tag) or tag.startswith("[[") or tag != tag.strip():
            if "]]" in tag:
                raise ValueError(f"a tag with spaces cannot contain ']]': {tag!r}")
            parts.append(f"[[{tag}]]")
        else:
            parts.append(tag)
    return " ".join(parts)


def parse_tid(text: str, *, source: str = "<string>") -> Tiddler:
    """A `.tid` file's text as a Tiddler, or JournalFormatError naming source and line."""
    if not text.strip():
        raise JournalFormatError("empty file", path=source, line=1)
    end = _HEADER_END.search(text)
    header, body = (text[: end.start()], text[end.end() :]) if end else (text, "")
    title: str | None = None
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(header.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            raise JournalFormatError("blank line before any header field", path=source, line=number)
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon:
            # never quoted: it may be the body of a private entry, and this error is logged
            raise JournalFormatError(
                "header line is not 'name: value' (is the blank line after the header missing?)",
                path=source,
                line=number,
            )
        if not name:
            raise JournalFormatError("header field without a name", path=source, line=number)
        if name in seen:
            raise JournalFormatError(f"field {name!r} given twice", path=source, line=number)
        seen.add(name)
        if name in DATE_FIELDS and value:
            try:
                parse_tw_date(value)
            except ValueError as exc:
                raise JournalFormatError(str(exc), path=source, line=number) from None
        if name == "title":
            title = value
        elif name == "text":
            raise JournalFormatError(
                "the body belongs after the blank line, not in a text field",
                path=source,
                line=number,
            )
        else:
            fields.append((name, value))
    if not title:
        raise JournalFormatError("no title field", path=source, line=1)
    return Tiddler(title=title, text=body, fields=tuple(fields))


def format_tid(t: Tiddler) -> str:
    """A Tiddler as TiddlyWiki writes a `.tid`: sorted `name: value` lines, blank line, body."""
    # TiddlyWiki itself ends a tiddler with an empty body after its last field (no newline).
    lines = []
    for name, value in sorted([("title", t.title), *t.fields]):
        check_field(name, value)
        lines.append(f"{name}: {value}")
    header = "\n".join(lines)
    return header + "\n\n" + t.text if t.text else header


def check_field(name: str, value: str) -> None:
    """ValueError unless `name: value` survives a trip through a `.tid` header."""
    if not name or name != name.strip() or ":" in name or name == "text":
        raise ValueError(f"not a usable field name: {name!r}")
    if any(c in name + value for c in "\r\n"):
        raise ValueError(f"field {name!r} spans lines; a .tid header cannot hold it")
    if value != value.strip():
        raise ValueError(f"field {name!r} has surrounding whitespace that a .tid would lose")
