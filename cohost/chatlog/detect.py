"""Telling a log's format from its first few KB, with the file extension as a hint."""

from __future__ import annotations

import csv
import re
import zlib
from collections import Counter
from pathlib import Path

from cohost.chatlog.base import read_head
from cohost.chatlog.csvlog import match_schema
from cohost.core.errors import ChatLogError

SAMPLE_LINES = 30
_JSON_LIST = re.compile(r"\[\s*[{\]]")
_RECHAT = re.compile(r'"(?:content_offset_seconds|commenter|recorded_at|broadcast_id)"\s*:')
_RECENT = re.compile(r'"messages"\s*:\s*\[')
_DOWNLOADER = re.compile(r'"(?:comments|streamer|FileInfo)"\s*:')

# Line shapes, tried in this order (tcd before chatterino: both start with a clock).
_LINE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("tcd", re.compile(r"\[\d+:\d\d:\d\d\] (?:< *[^<>\s]+ *> |\*\S+ )")),
    ("overrustle", re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: UTC)?\] [^\s:]+:")),
    ("chatterino", re.compile(r"\[\d\d:\d\d:\d\d\] |# (?:Start|Stop) logging at ")),
    ("irc", re.compile(r"(?:@\S+ +)?:\S+ +(?:[A-Z]+|\d{3})(?: |$)|(?:PING|PONG) ")),
)


def _sample(head: str, complete: bool) -> list[str]:
    lines = head.split("\n")
    if not complete:
        lines = lines[:-1]  # the last line may be cut off
    sample = [line.rstrip("\r") for line in lines if line.strip()]
    return sample[:SAMPLE_LINES]


def _json_format(head: str) -> str | None:
    start = head.lstrip()
    if start.startswith("{"):
        if _RECENT.search(head):
            return "irc_json"
        if _DOWNLOADER.search(head):
            return "twitchdownloader"
        return None
    if _JSON_LIST.match(start) and _RECHAT.search(head):
        return "rechat"
    return None


def _line_format(sample: list[str]) -> str | None:
    votes: Counter[str] = Counter()
    for line in sample:
        for name, shape in _LINE_SHAPES:
            if shape.match(line):
                votes[name] += 1
                break
    if not votes:
        return None
    name, count = votes.most_common(1)[0]
    return name if count * 2 >= len(sample) else None


def _csv_format(sample: list[str]) -> str | None:
    if not sample:
        return None
    try:
        header = next(csv.reader([sample[0]]), [])
    except csv.Error:  # a stray CR or NUL: not a CSV header
        return None
    return "csv" if len(header) >= 3 and match_schema(header) is not None else None


def detect_format(path: Path) -> str:
    """The format name of a chat log, or a ChatLogError that says why none fits."""
    try:
        head, complete = read_head(path)
    except OSError as exc:
        raise ChatLogError(f"cannot read: {exc.strerror or exc}", path=path) from None
    except (EOFError, zlib.error) as exc:  # a gzip stream cut short or corrupted
        raise ChatLogError(f"cannot read: {exc}", path=path) from None
    if not head.strip():
        raise ChatLogError("the file is empty", path=path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    found = _json_format(head)
    if found is None and head.lstrip()[:1] in "[{" and ".json" in suffixes:
        raise ChatLogError(
            "JSON, but neither rechat, TwitchDownloader nor recent-messages", path=path
        )
    sample = _sample(head, complete)
    if found is None:
        found = _csv_format(sample) if ".csv" in suffixes else None
    if found is None:
        found = _line_format(sample) or _csv_format(sample)
    if found is not None:
        return found
    if ".csv" in suffixes:
        raise ChatLogError(
            "a CSV file with unknown columns: name them with --columns time=COL,user=COL,text=COL "
            "(setting replay.csv_columns)",
            path=path,
        )
    first = sample[0] if sample else head.strip()[:80]
    raise ChatLogError(
        "cannot tell the chat log format: the first lines match none of irc, irc_json, "
        "chatterino, tcd, rechat, twitchdownloader, overrustle, csv "
        f"(first line: {first[:80]!r}); a list of plain messages without users "
        "can be read with `--format lines`",
        path=path,
    )
