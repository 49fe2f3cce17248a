"""A replay's report: what was picked and why not, what the twin answered, how fast."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from cohost.control.controller import CommandResult
from cohost.core.events import ChatMessage, Decision, Flaw, Quality, TurnTrace
from cohost.pipeline.privacy import public_reason

EXAMPLES_PER_CATEGORY = 3


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


COMMAND_EXAMPLES = 12  # logged `!twin` lines the report quotes, at most


@dataclass(slots=True)
class ReplayReport:
    """Counts decisions and turns as they happen; renders JSON and Markdown at the end."""

    source: str = ""
    format: str = ""
    twin: str = ""
    simulator: str = ""
    notes: list[str] = field(default_factory=list)
    seen: int = 0
    picked: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    replies: list[dict[str, str]] = field(default_factory=list)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # logged `!twin` commands: "name accepted|refused" -> count, and the first few as lines
    commands: Counter[str] = field(default_factory=Counter)
    command_lines: list[str] = field(default_factory=list)
    # what the guard did: (rule, action) -> count, for every verdict that was not a pass
    guard: Counter[tuple[str, str]] = field(default_factory=Counter)
    # turns the guard blocked: who asked what, and which rules; never the blocked text
    blocked: list[dict[str, str]] = field(default_factory=list)
    # why picked messages got no reply: "outcome: reason" -> count
    unanswered: Counter[str] = field(default_factory=Counter)
    # what the quality checks made of each reviewed reply (Quality), and what they found (Flaw)
    quality: Counter[str] = field(default_factory=Counter)
    flaws: Counter[str] = field(default_factory=Counter)
    unreadable_lines: int = 0
    unreadable_reasons: list[str] = field(default_factory=list)

    def add_decision(self, decision: Decision) -> None:
        self.seen += 1
        if decision.picked:
            self.picked += 1
            return
        self.skipped[decision.category] += 1
        shown = self.examples[decision.category]
        if len(shown) < EXAMPLES_PER_CATEGORY:
            message = decision.message
            shown.append(f"{message.login}: {message.text[:120]} — {decision.reason}")

    def add_command(self, message: ChatMessage, result: CommandResult) -> None:
        """A logged `!twin` line, as the controller took it."""
        verdict = "accepted" if result.accepted else "refused"
        self.commands[f"{result.command or '?'} {verdict}"] += 1
        if len(self.command_lines) < COMMAND_EXAMPLES:
            self.command_lines.append(f"{message.login}: {message.text[:120]} — {result.reason}")

    def add_trace(self, trace: TurnTrace) -> None:
        self.outcomes[trace.outcome] += 1
        message = trace.decision.message
        if trace.outcome == "answered":
            self.replies.append(
                {
                    "to": message.login,
                    "message": message.text,
                    "why": trace.decision.reason,
                    "reply": trace.reply,
                }
            )
        if trace.quality is not None:
            self.quality[str(trace.quality)] += 1
            self.flaws.update(str(flaw) for flaw in dict.fromkeys(trace.flaws))
        acted = [v for v in trace.guard if v.action != "pass"]
        self.guard.update((v.rule, v.action) for v in acted)
        if trace.outcome != "answered":
            blocked_by = (v.rule for v in acted if v.action == "blocked")
            why = public_reason(trace.outcome, trace.reason, blocked_by) or "no reason given"
            self.unanswered[f"{trace.outcome}: {why}"] += 1
        if trace.outcome == "blocked" and len(self.blocked) < EXAMPLES_PER_CATEGORY:
            rules = sorted({v.rule for v in acted if v.action == "blocked"})
            self.blocked.append(
                {"to": message.login, "message": message.text, "rules": ", ".join(rules)}
            )
        for stage in trace.stages:
            self.stage_ms[stage.name].append(stage.seconds * 1000)

    def stage_table(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "n": len(values),
                "p50_ms": round(percentile(values, 50), 3),
                "p90_ms": round(percentile(values, 90), 3),
                "p99_ms": round(percentile(values, 99), 3),
                "max_ms": round(max(values, default=0.0), 3),
            }
            for name, values in sorted(self.stage_ms.items())
        }

    def quality_table(self) -> dict[str, Any]:
        """Replies reviewed, what became of them, and how often each flaw was found."""
        return {
            "reviewed": sum(self.quality.values()),
            **{str(q): self.quality.get(str(q), 0) for q in Quality},
            "flaws": {str(f): self.flaws.get(str(f), 0) for f in Flaw},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "twin": self.twin,
            "simulator": self.simulator,
            "notes": self.notes,
            "messages_seen": self.seen,
            "picked": self.picked,
            "answered": self.outcomes.get("answered", 0),
            "turn_outcomes": dict(self.outcomes),
            "unanswered_reasons": dict(self.unanswered.most_common()),
            "skipped_by_category": dict(self.skipped.most_common()),
            "skip_examples": dict(self.examples),
            "replies": self.replies,
            "stage_times": self.stage_table(),
            "commands": dict(self.commands.most_common()),
            "command_lines": self.command_lines,
            "guard": {f"{rule} {action}": n for (rule, action), n in self.guard.most_common()},
            "blocked_examples": self.blocked,
            "quality": self.quality_table(),
            "unreadable_lines": self.unreadable_lines,
            "unreadable_reasons": self.unreadable_reasons,
        }

    def to_markdown(self) -> str:
        data = self.to_dict()
        out = [
            f"# Replay of {self.source}",
            "",
            f"- format: {self.format}; twin: {self.twin}; simulator: {self.simulator}",
            f"- messages seen: {self.seen}; picked: {self.picked}; answered: {data['answered']}",
            f"- turn outcomes: {_inline(self.outcomes)}",
            f"- unreadable lines skipped: {self.unreadable_lines}",
        ]
        out += [f"  - {_md(reason)}" for reason in self.unreadable_reasons]  # file:line: why
        out += [f"- note: {note}" for note in self.notes]
        if self.unanswered:
            out += ["", "## Why picked messages got no reply", "", "| outcome: reason | count |"]
            out += ["|---|---:|"]
            top = self.unanswered.most_common(EXAMPLES_PER_CATEGORY * 2)
            out += [f"| {_md(why)} | {count} |" for why, count in top]
        out += ["", "## Why messages were not picked", "", "| reason | count |", "|---|---:|"]
        out += [f"| {name} | {count} |" for name, count in self.skipped.most_common()]
        for name, shown in self.examples.items():
            out += ["", f"**{name}**, for example:", ""]
            out += [f"- {_md(line)}" for line in shown]
        out += ["", "## Stage times (ms)", "", "| stage | n | p50 | p90 | p99 | max |"]
        out += ["|---|---:|---:|---:|---:|---:|"]
        for name, row in data["stage_times"].items():
            out.append(
                f"| {name} | {row['n']} | {row['p50_ms']} | {row['p90_ms']} | "
                f"{row['p99_ms']} | {row['max_ms']} |"
            )
        if self.commands:
            out += ["", "## `!twin` commands in the log", "", f"- {_inline(self.commands)}", ""]
            out += [f"- {_md(line)}" for line in self.command_lines]
        out += ["", "## What the guard did", "", "| rule | action | count |", "|---|---|---:|"]
        out += [
            f"| {rule} | {action} | {count} |" for (rule, action), count in self.guard.most_common()
        ]
        if self.blocked:
            out += ["", "Blocked replies (what was asked, and by which rules):", ""]
            out += [f"- {_md(b['to'])}: {_md(b['message'])} — {b['rules']}" for b in self.blocked]
        quality = data["quality"]
        out += ["", "## Reply quality", "", f"- replies reviewed: {quality['reviewed']}"]
        out += [
            f"- clean, as written: {quality[Quality.CLEAN]}; "
            f"repaired: {quality[Quality.REPAIRED]}; "
            f"fallen back to the simulated line: {quality[Quality.FALLBACK]}; "
            f"silent: {quality[Quality.SILENT]}",
            "",
            "| flaw | replies |",
            "|---|---:|",
        ]
        out += [f"| {flaw} | {n} |" for flaw, n in quality["flaws"].items()]
        out += ["", "## Replies", ""]
        out += [
            f"- **{_md(r['to'])}**: {_md(r['message'])} ({_md(r['why'])})  \n  → {_md(r['reply'])}"
            for r in self.replies
        ]
        return "\n".join(out) + "\n"


def _inline(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
