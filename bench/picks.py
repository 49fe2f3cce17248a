"""Picker precision and recall against messages labelled by hand (would a good co-host answer?).

    python -m bench.picks [--quick] [--labels PATH] [--show N] [--show-held-out]

Each labelled log is replayed from its start through the picker with a moving window and answer
memory, as `cohost replay --twin STREAMER` would judge it (the twin answers to the streamer's
name, and to the nicknames `learn_nicknames` finds in the log: what `cohost chatlog nicknames`
suggests; they are printed beside the ones set by hand before); only the labelled messages
are scored. Two verdicts are counted: `as is` (picked), and
`through limits` (picked, or held back only by a rate rule: rate, gap, cooldown, duplicate),
since a busy minute can hold back a message worth answering. Figures are given for the logs
the rules were tuned on, for the held-out log, and per label kind. `--show N` prints wrong
verdicts on the tuned-on logs only: the held-out log's are printed only with `--show-held-out`,
so that no rule is fitted to them by accident. The last line holds the key
figures (through limits, all logs) as name=value pairs.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from cohost.chatlog import open_log
from cohost.core.events import ChatMessage, Decision
from cohost.core.options import PickerSettings, TwinSettings
from cohost.pipeline.pick import AnswerMemory, Picker, learn_nicknames

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "tests" / "data" / "picks" / "labelled.jsonl"
SHARED = ROOT.parent / "shared" / "data" / "twitch"
RATE_RULES = frozenset({"rate", "gap", "cooldown", "duplicate"})
WINDOW = 20
# The names chat calls each streamer, as they were set by hand before `learn_nicknames`: the
# bench prints them beside the learned ones.
NICKNAMES = {"adumplaze": ["adum"], "dkdiamantes": ["dk"], "northernlion": ["nl"]}


@dataclass(frozen=True, slots=True)
class Judged:
    """One labelled message and the picker's verdict on it."""

    label: dict[str, object]
    decision: Decision

    @property
    def picked(self) -> bool:
        return self.decision.picked

    @property
    def through_limits(self) -> bool:
        return self.decision.picked or self.decision.category in RATE_RULES


def learned(shared: Path, log: str, streamer: str) -> list[str]:
    """The nicknames chat uses for the streamer in this log (no label is read)."""
    bots = frozenset(PickerSettings().known_bots)
    chat = (e for e in open_log(shared / log) if isinstance(e, ChatMessage))
    return [n.name for n in learn_nicknames(chat, streamer, ignore=bots)]


def judge(
    labels: list[dict[str, object]], shared: Path, *, said: list[str] | None = None
) -> list[Judged]:
    """Replay every labelled log through the picker; the verdicts on the labelled messages.
    `said` gets a line per log with its nicknames, learned and set by hand."""
    by_log: dict[str, dict[int, dict[str, object]]] = {}
    for label in labels:
        by_log.setdefault(str(label["log"]), {})[int(str(label["index"]))] = label
    judged: list[Judged] = []
    for log, wanted in by_log.items():
        streamer = str(next(iter(wanted.values()))["streamer"])
        nicknames = learned(shared, log, streamer)
        if said is not None:
            said.append(
                f"{streamer:<14} nicknames learned {nicknames} (by hand: "
                f"{NICKNAMES.get(streamer, [])})"
            )
        settings = PickerSettings(streamer_nicknames=nicknames)
        picker = Picker(settings, TwinSettings(name=streamer, streamer=streamer))
        memory = AnswerMemory.for_settings(picker.settings)
        window: deque[ChatMessage] = deque(maxlen=WINDOW)
        index = -1
        last = max(wanted)
        for event in open_log(shared / log):
            if not isinstance(event, ChatMessage):
                continue
            index += 1
            decision = picker.decide(event, window=window, memory=memory, now=event.ts)
            if decision.picked:
                memory.record(event, event.ts)
            window.append(event)
            found = wanted.get(index)
            if found is not None:
                if found["text"] != event.text:
                    raise SystemExit(f"{log}#{index}: the label's text is not the log's")
                judged.append(Judged(found, decision))
            if index >= last:
                break
    return judged


def figures(judged: list[Judged], *, as_is: bool = False) -> tuple[float, float, int, int, int]:
    """Precision, recall, true positives, predicted, labelled yes."""
    said = [j.picked if as_is else j.through_limits for j in judged]
    yes = [bool(j.label["answer"]) for j in judged]
    tp = sum(s and y for s, y in zip(said, yes, strict=True))
    predicted, positive = sum(said), sum(yes)
    precision = tp / predicted if predicted else 1.0
    recall = tp / positive if positive else 1.0
    return precision, recall, tp, predicted, positive


def line(name: str, judged: list[Judged]) -> str:
    p, r, tp, n, pos = figures(judged)
    pa, ra, *_ = figures(judged, as_is=True)
    return (
        f"{name:<22} {len(judged):4d} msgs {pos:3d} yes | through limits: precision {p:.2f} "
        f"recall {r:.2f} ({tp}/{n} picked right) | as is: precision {pa:.2f} recall {ra:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same run (it takes seconds)")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared twitch logs")
    parser.add_argument(
        "--show", type=int, default=0, help="print 2N wrong verdicts on the tuned-on logs"
    )
    parser.add_argument(
        "--show-held-out", action="store_true", help="with --show: the held-out log's too"
    )
    args = parser.parse_args()
    labels = [json.loads(row) for row in args.labels.read_text(encoding="utf-8").splitlines()]
    said: list[str] = []
    judged = judge(labels, args.shared, said=said)
    print("\n".join(said))
    tuned = [j for j in judged if not j.label["held_out"]]
    held = [j for j in judged if j.label["held_out"]]
    print(line("tuned-on logs", tuned))
    held_name = str(held[0].label["log"]).rsplit("/", 1)[-1] if held else "none"
    print(line(f"held out ({held_name[:10]})", held))
    print(line("all", judged))
    print("\nper label kind (through limits): picked / labelled")
    kinds: Counter[str] = Counter()
    picked: Counter[str] = Counter()
    for j in judged:
        kind = f"{'yes' if j.label['answer'] else 'no'}:{j.label['kind']}"
        kinds[kind] += 1
        picked[kind] += j.through_limits
    for kind in sorted(kinds):
        print(f"  {kind:<20} {picked[kind]:3d} / {kinds[kind]:3d}")
    if args.show:
        shown = judged if args.show_held_out else tuned
        wrong = [j for j in shown if j.through_limits != j.label["answer"]]
        for j in wrong[: args.show * 2]:
            verdict = "picked" if j.through_limits else "missed"
            print(f"  {verdict}: {j.label['login']}: {j.label['text']!s:.70} — {j.decision.reason}")
    p, r, _, _, _ = figures(judged)
    pa, ra, *_ = figures(judged, as_is=True)
    hp, hr, *_ = figures(held)
    tp_, tr, *_ = figures(tuned)
    print(
        f"precision={p:.3f} recall={r:.3f} precision_as_is={pa:.3f} recall_as_is={ra:.3f} "
        f"tuned_precision={tp_:.3f} tuned_recall={tr:.3f} "
        f"held_out_precision={hp:.3f} held_out_recall={hr:.3f} labelled={len(judged)}"
    )


if __name__ == "__main__":
    main()
