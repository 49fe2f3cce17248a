"""Chat logs and writings as training examples: chat windows, each ending on a twin line."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cohost.core.errors import InputError
from cohost.core.events import ChatEvent, ChatMessage, Moderation, UserNotice
from cohost.dataset.clean import (
    DEFAULT_CONTEXT_PATTERNS,
    RULE_HELP,
    RULES,
    LineRules,
    ModerationBuffer,
    Tally,
)
from cohost.text.render import (
    DEFAULT_FORMAT,
    ChatFormat,
    clean_name,
    clean_text,
    render_example,
)

META_SUFFIX = ".meta.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetMeta:
    """How a data file was rendered: the twin's name, and the header every record opens with.

    `cohost train` writes the name into the adapter, and cohost refuses to serve the adapter
    under another name: the twin model only knows how to speak as the name it learnt.
    """

    twin: str  # as rendered (clean_name of the name given)
    header: str

    @classmethod
    def rendered(cls, twin: str, fmt: ChatFormat = DEFAULT_FORMAT) -> DatasetMeta:
        """The meta of data rendered for `twin` in `fmt`, as the renderer writes it."""
        name = clean_name(twin)
        return cls(twin=name, header=fmt.header.replace("{twin}", name))


def meta_path(data: Path) -> Path:
    """Where the meta of a data file lives: DATA.meta.json beside it."""
    return data.with_name(data.name + META_SUFFIX)


def write_meta(data: Path, meta: DatasetMeta) -> Path:
    """Write the meta beside `data`; returns its path."""
    path = meta_path(data)
    record = {"twin": meta.twin, "header": meta.header}
    try:
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=path) from None
    return path


def read_json_object(path: Path) -> dict[str, Any]:
    """A small JSON file that cohost wrote, holding one object; InputError naming it if not."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable ({exc})", path=path) from None
    if not isinstance(record, dict):
        raise InputError("not a JSON object", path=path)
    return record


def read_meta(data: Path) -> DatasetMeta | None:
    """The meta beside `data`; None when there is none (data not written by cohost dataset)."""
    path = meta_path(data)
    if not path.is_file():
        return None
    record = read_json_object(path)
    twin, header = record.get("twin"), record.get("header")
    if not isinstance(twin, str) or not twin or not isinstance(header, str):
        raise InputError("needs the strings twin and header", path=path)
    return DatasetMeta(twin=twin, header=header)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    """Who the twin is, how big a window is, and which cleaning rules run."""

    twin: str  # the name the twin's lines are rendered as
    twin_logins: tuple[str, ...] = ()  # every login whose lines are the twin's
    window: int = 12
    min_context: int = 1
    max_gap_s: float = 900.0
    rules: frozenset[str] = frozenset(RULES)
    min_chars: int = 2
    duplicate_lookback: int = 200
    moderation_hold_s: float = 600.0
    moderation_hold_lines: int = 50_000
    context_patterns: tuple[str, ...] = DEFAULT_CONTEXT_PATTERNS
    bots: frozenset[str] = frozenset()
    fmt: ChatFormat = DEFAULT_FORMAT


@dataclass(slots=True, kw_only=True)
class BuildReport:
    """What went in, what came out, and what each rule did."""

    sources: list[str] = field(default_factory=list)
    events: int = 0
    messages: int = 0
    moderation_events: int = 0
    lines_kept: int = 0
    twin_lines: int = 0
    writing_lines: int = 0
    examples: int = 0
    duplicate_examples: int = 0
    without_context: int = 0  # twin lines with fewer than min_context lines before them
    tally: Tally = field(default_factory=Tally)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "sources": self.sources,
            "events": self.events,
            "messages": self.messages,
            "moderation_events": self.moderation_events,
            "lines_kept": self.lines_kept,
            "twin_lines": self.twin_lines,
            "writing_lines": self.writing_lines,
            "examples": self.examples,
            "duplicate_examples": self.duplicate_examples,
            "without_context": self.without_context,
            "rules": {
                rule: {"removed": self.tally.removed[rule], "changed": self.tally.changed[rule]}
                for rule in RULES
            },
            "detail": dict(sorted(self.tally.detail.items())),
        }

    def table(self, enabled: Collection[str] = RULES) -> str:
        """The report as a table for people."""
        rows = [f"{'rule':<12} {'on':<3} {'removed':>9} {'changed':>9}  what"]
        for rule in RULES:
            on = "yes" if rule in enabled else "no"
            removed, changed = self.tally.removed[rule], self.tally.changed[rule]
            rows.append(f"{rule:<12} {on:<3} {removed:>9} {changed:>9}  {RULE_HELP[rule]}")
        rows.append("")
        rows.append(
            f"{self.messages} chat line(s) and {self.writing_lines} writing line(s) read, "
            f"{self.lines_kept} kept; {self.twin_lines} by the twin; {self.examples} example(s) "
            f"written ({self.duplicate_examples} repeated, {self.without_context} without "
            "context, skipped)"
        )
        return "\n".join(rows)


class DatasetBuilder:
    """Turns chat logs and writings into rendered training examples, counting every rule."""

    def __init__(self, options: BuildOptions) -> None:
        self.options = options
        self.report = BuildReport()
        self.rules = LineRules(
            enabled=options.rules,
            bots=options.bots,
            min_chars=options.min_chars,
            context_patterns=options.context_patterns,
            duplicate_lookback=options.duplicate_lookback,
        )
        self.rules.tally = self.report.tally
        self._twin = clean_name(options.twin)
        self.logins = {login.lower() for login in (*options.twin_logins, self._twin)}
        # 16-byte digests of the examples written: bounded and small next to the examples.
        self._written: set[bytes] = set()
        self.speakers: Counter[str] = Counter()  # lines per login read from the logs

    def is_twin(self, message: ChatMessage) -> bool:
        """Whether a line is the twin's own (the renderer's test, so they always agree)."""
        return message.login.lower() in self.logins

    def from_log(self, events: Iterable[ChatEvent], *, source: str = "") -> Iterator[str]:
        """Examples from one chat log's events, streamed: each ends on a line of the twin."""
        opts = self.options
        report = self.report
        report.sources.append(source)
        self.rules.reset()
        buffer = ModerationBuffer(
            hold_s=opts.moderation_hold_s,
            max_lines=opts.moderation_hold_lines,
            enabled="moderated" in opts.rules,
        )
        window: deque[ChatMessage] = deque(maxlen=opts.window)
        try:
            for event in events:
                report.events += 1
                if isinstance(event, Moderation):
                    report.moderation_events += 1
                    released = buffer.moderate(event)
                else:
                    message = _as_message(event)
                    if message is None:
                        continue
                    report.messages += 1
                    self.speakers[message.login.lower()] += 1
                    text = self.rules.check(message.login, message.text)
                    if text is None:
                        continue
                    if text != message.text:
                        message = replace(message, text=text)
                    released = buffer.add(message)
                for kept in released:
                    yield from self._chat_line(kept, window)
            for kept in buffer.flush():
                yield from self._chat_line(kept, window)
        finally:
            report.tally.removed["moderated"] += buffer.removed
            report.tally.detail.update(buffer.detail)

    def from_writing(self, lines: Iterable[str], *, source: str = "") -> Iterator[str]:
        """Examples from the twin's own writing: runs of `window` sentences, all the twin's."""
        self.report.sources.append(source)
        self.rules.reset()
        login = self._twin.lower()
        run: list[ChatMessage] = []
        for i, line in enumerate(lines):
            self.report.writing_lines += 1
            text = self.rules.check(login, line)
            if text is None or not clean_text(text):
                continue
            self.report.lines_kept += 1
            self.report.twin_lines += 1
            run.append(
                ChatMessage(
                    id=f"{source}#{i}",
                    channel="",
                    login=login,
                    display_name=self._twin,
                    text=text,
                    ts=float(i),
                )
            )
            if len(run) == self.options.window:
                yield from self._example(run)
                run = []
        if run:
            yield from self._example(run)

    def _chat_line(self, message: ChatMessage, window: deque[ChatMessage]) -> Iterator[str]:
        if not _renders(message.text):
            return  # renders as nothing: it can neither end nor fill a window
        if window and message.ts - window[-1].ts > self.options.max_gap_s:
            window.clear()
        window.append(message)
        self.report.lines_kept += 1
        if not self.is_twin(message):
            return
        self.report.twin_lines += 1
        if len(window) - 1 < self.options.min_context:
            self.report.without_context += 1
            return
        yield from self._example(window)

    def _example(self, window: Sequence[ChatMessage]) -> Iterator[str]:
        opts = self.options
        text = render_example(list(window), opts.twin, fmt=opts.fmt, twin_logins=opts.twin_logins)
        if "duplicates" in opts.rules:
            digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
            if digest in self._written:
                self.report.duplicate_examples += 1
                self.report.tally.detail["duplicates.example"] += 1
                return
            self._written.add(digest)
        self.report.examples += 1
        yield text


def _renders(text: str) -> bool:
    """Whether the renderer writes anything for this text (a cheap test for plain lines)."""
    if text.isascii() and text.isprintable() and "<" not in text and "[" not in text:
        return bool(text.strip())
    return bool(clean_text(text))


def _as_message(event: ChatMessage | UserNotice) -> ChatMessage | None:
    if isinstance(event, ChatMessage):
        return event
    if not event.text.strip():
        return None  # a sub or raid without the viewer's own words
    return ChatMessage(
        id=event.id,
        channel=event.channel,
        login=event.login,
        display_name=event.display_name,
        text=event.text,
        ts=event.ts,
        user_id=event.user_id,
        roles=event.roles,
        notice=event.kind,
    )
