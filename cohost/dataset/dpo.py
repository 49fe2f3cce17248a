"""Feedback (`!twin good|bad`, the dashboard) as DPO preference pairs: `{prompt, chosen, rejected}`.

The prompt is the window the reply answered, rendered by `render_prompt` (the twin's turn left
open); chosen and rejected are the rest of that line: what the model would write after it.

Pairing rule, per prompt (records with the same rendered prompt are one group):
1. A good reply is chosen over each of its own alternatives, and over every bad reply.
2. A bad reply with no good reply in its group is rejected in favour of its first alternative
   (the candidates it was wrongly picked over).
3. A reply never plays against itself, a reply judged good is never rejected and one judged bad
   is never chosen, and each (prompt, chosen, rejected) is written once.
A bad reply with neither a good reply nor an alternative gives no pair and is counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage
from cohost.text.render import DEFAULT_FORMAT, ChatFormat, clean_name, clean_text, render_prompt


class _Foreign(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FeedbackLine(_Foreign):
    """A chat line of the window a reply was made from."""

    login: str
    text: str
    display_name: str = ""
    id: str = ""
    ts: float = 0.0


class Feedback(_Foreign):
    """The fields of a feedback line this builder reads (see cohost/control/feedback.py)."""

    verdict: Literal["good", "bad"]
    reply: str
    message: FeedbackLine | None = None
    window: list[FeedbackLine] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)


def read_feedback(path: Path) -> tuple[list[Feedback], int]:
    """The records of a feedback file, and how many lines were unreadable (skipped)."""
    records: list[Feedback] = []
    bad = 0
    try:
        file = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read feedback: {exc.strerror or exc}", path=path) from None
    with file:
        for raw in file:
            if not raw.strip():
                continue
            try:
                records.append(Feedback.model_validate_json(raw))
            except ValidationError:
                bad += 1
    return records, bad


def _message(line: FeedbackLine, i: int) -> ChatMessage:
    return ChatMessage(
        id=line.id or f"w{i}",
        channel="",
        login=line.login.lower(),
        display_name=line.display_name or line.login,
        text=line.text,
        ts=line.ts,
    )


def feedback_prompt(
    record: Feedback,
    twin: str,
    *,
    fmt: ChatFormat = DEFAULT_FORMAT,
    twin_logins: Iterable[str] = (),
) -> str:
    """The rendered window the reply answered, ending on the answered message (once)."""
    lines = list(record.window)
    msg = record.message
    if msg is not None and msg.text:
        last = lines[-1] if lines else None
        same = last is not None and (
            (msg.id and last.id == msg.id)
            or (last.login.lower() == msg.login.lower() and last.text == msg.text)
        )
        if not same:
            lines.append(msg)
    window = [_message(line, i) for i, line in enumerate(lines)]
    return render_prompt(window, twin, fmt=fmt, twin_logins=tuple(twin_logins))


def completion(reply: str, twin: str, *, fmt: ChatFormat = DEFAULT_FORMAT) -> str:
    """What follows the prompt's open turn when the twin says `reply`: the line's rest and \\n."""
    name = clean_name(twin)
    return fmt.line(name, clean_text(reply))[len(fmt.opening(name)) :] + "\n"


@dataclass(slots=True, kw_only=True)
class PairReport:
    """What the feedback gave."""

    records: int = 0
    unreadable: int = 0
    prompts: int = 0
    pairs: int = 0
    unpaired_bad: int = 0
    good_without_pair: int = 0
    by_rule: dict[str, int] = field(
        default_factory=lambda: {
            "good_vs_alternative": 0,
            "good_vs_bad": 0,
            "alternative_vs_bad": 0,
        }
    )


@dataclass(slots=True)
class _Group:
    good: list[Feedback] = field(default_factory=list)
    bad: list[Feedback] = field(default_factory=list)


def _key(text: str) -> str:
    return " ".join(clean_text(text).split()).casefold()


def dpo_pairs(
    records: Iterable[Feedback],
    twin: str,
    *,
    fmt: ChatFormat = DEFAULT_FORMAT,
    twin_logins: Iterable[str] = (),
    report: PairReport | None = None,
) -> Iterator[dict[str, str]]:
    """`{prompt, chosen, rejected}` pairs by the module's pairing rule, in prompt order."""
    report = report if report is not None else PairReport()
    logins = tuple(twin_logins)
    groups: dict[str, _Group] = {}
    for record in records:
        report.records += 1
        if not clean_text(record.reply):
            continue
        group = groups.setdefault(
            feedback_prompt(record, twin, fmt=fmt, twin_logins=logins), _Group()
        )
        (group.good if record.verdict == "good" else group.bad).append(record)
    report.prompts = len(groups)
    for prompt, group in groups.items():
        for chosen, rejected, rule in _group_pairs(group, report):
            report.pairs += 1
            report.by_rule[rule] += 1
            yield {
                "prompt": prompt,
                "chosen": completion(chosen, twin, fmt=fmt),
                "rejected": completion(rejected, twin, fmt=fmt),
            }


def _group_pairs(group: _Group, report: PairReport) -> Iterator[tuple[str, str, str]]:
    """(chosen, rejected, rule) of one prompt's records, by the module's pairing rule."""
    good = {_key(r.reply) for r in group.good}
    bad = {_key(r.reply) for r in group.bad}
    written: set[tuple[str, str]] = set()

    def allowed(chosen: str, rejected: str) -> bool:
        c, r = _key(chosen), _key(rejected)
        if not c or not r or c == r or c in bad or r in good or (c, r) in written:
            return False
        written.add((c, r))
        return True

    for record in group.good:
        paired = False
        candidates = [(alt, "good_vs_alternative") for alt in record.alternatives]
        candidates += [(worse.reply, "good_vs_bad") for worse in group.bad]
        for rejected, rule in candidates:
            if allowed(record.reply, rejected):
                paired = True
                yield record.reply, rejected, rule
        if not paired:
            report.good_without_pair += 1
    if group.good:
        return
    for record in group.bad:
        chosen = next((alt for alt in record.alternatives if allowed(alt, record.reply)), None)
        if chosen is None:
            report.unpaired_bad += 1
        else:
            yield chosen, record.reply, "alternative_vs_bad"
