"""What a chat log holds, in one pass: counts, users, time span, notices, moderation, bad lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cohost.chatlog.log import open_log
from cohost.core.events import ChatMessage, Moderation, UserNotice

RELATIVE_BELOW = 1e9  # times under 2001-09-09 are offsets from the start of a VOD, not dates


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSummary:
    """One log in numbers."""

    path: str
    format: str
    channels: tuple[str, ...]
    lines: int
    events: int
    messages: int
    users: int  # distinct logins that wrote a message
    first_ts: float | None  # the earliest event time
    last_ts: float | None  # the latest event time
    notices: Mapping[str, int]  # user notices by kind
    moderation: Mapping[str, int]  # moderation events by kind
    skipped: int
    first_reasons: tuple[str, ...]

    @property
    def span_seconds(self) -> float:
        """Seconds from the earliest to the latest event."""
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return self.last_ts - self.first_ts

    @property
    def relative_time(self) -> bool:
        """Whether times are offsets from the start of a video rather than dates."""
        return self.last_ts is not None and self.last_ts < RELATIVE_BELOW

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "path": self.path,
            "format": self.format,
            "channels": list(self.channels),
            "lines": self.lines,
            "events": self.events,
            "messages": self.messages,
            "users": self.users,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "span_seconds": self.span_seconds,
            "relative_time": self.relative_time,
            "notices": dict(self.notices),
            "moderation": dict(self.moderation),
            "skipped": self.skipped,
            "first_reasons": list(self.first_reasons),
        }


def inspect_log(
    path: Path,
    *,
    format: str | None = None,
    strict: bool = False,
    channel: str | None = None,
    csv_columns: Mapping[str, str] | None = None,
) -> LogSummary:
    """Read a whole log once and summarise it."""
    log = open_log(path, format=format, strict=strict, channel=channel, csv_columns=csv_columns)
    users: set[str] = set()
    channels: dict[str, None] = {}
    notices: Counter[str] = Counter()
    moderation: Counter[str] = Counter()
    first: float | None = None
    last: float | None = None
    for event in log:
        ts = event.ts
        if first is None or last is None:
            first = last = ts
        elif ts < first:
            first = ts
        elif ts > last:
            last = ts
        channels.setdefault(event.channel)
        if isinstance(event, ChatMessage):
            users.add(event.login)
        elif isinstance(event, UserNotice):
            notices[event.kind] += 1
        elif isinstance(event, Moderation):
            moderation[event.kind] += 1
    stats = log.stats
    return LogSummary(
        path=str(log.path),
        format=log.format,
        channels=tuple(channels),
        lines=stats.lines,
        events=stats.events,
        messages=stats.messages,
        users=len(users),
        first_ts=first,
        last_ts=last,
        notices=dict(sorted(notices.items())),
        moderation=dict(sorted(moderation.items())),
        skipped=stats.skipped,
        first_reasons=tuple(stats.first_reasons),
    )


def _when(ts: float, relative: bool) -> str:
    if relative:
        return _duration(ts)
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in counts.items()) or "none"


def format_summary(summary: LogSummary) -> str:
    """The summary as a few lines a streamer can read."""
    channels = ", ".join(f"#{name}" for name in summary.channels) or "no channel"
    lines = [
        f"{summary.path} ({summary.format}, {channels})",
        f"  {summary.messages} message{'s' * (summary.messages != 1)} from {summary.users} "
        f"user{'s' * (summary.users != 1)}"
        f" ({summary.events} events in {summary.lines} lines)",
    ]
    if summary.first_ts is not None and summary.last_ts is not None:
        relative = summary.relative_time
        lines.append(
            f"  from {_when(summary.first_ts, relative)} to {_when(summary.last_ts, relative)}"
            f" ({_duration(summary.span_seconds)})"
        )
    lines.append(f"  user notices: {_counts(summary.notices)}")
    lines.append(f"  moderation: {_counts(summary.moderation)}")
    lines.append(f"  skipped lines: {summary.skipped}")
    lines.extend(f"    {reason}" for reason in summary.first_reasons)
    return "\n".join(lines)
