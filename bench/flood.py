"""A raid-sized burst through the Conductor on a virtual clock: freshness and Twitch's send limit.

    .venv/bin/python -m bench.flood --quick   # 1,000 messages in 2 s of chat, a few seconds
    .venv/bin/python -m bench.flood           # 5,000 messages in 10 s of chat

Chat from a raid (a couple of thousand viewers, a fifth of them talking to the twin) arrives on a
`VirtualClock`, as in a replay; every message goes through the same Conductor, picker and whole
turns the daemon runs, with the embedded models (Markov simulator, extractive rewriter) and the
`TwitchRules` sink over a sender that records what would have gone to Twitch and when. The picker's
rate caps are lifted (no minimum gap, no cooldown) so that the sink's limit, not the picker, is
what holds chat back. Waiting for a send slot passes virtual time, as the daemon's real wait
would; messages that arrive meanwhile are stamped in the past and must not be answered stale.

It prints: messages, picks, answers and sends; the max age of an answered message when its turn
started and when its reply went out, against the freshness limit; the most sends in any 30 s
window (Twitch allows 20); peak RSS and RSS growth over the burst. Key figures last, one line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import resource
import tempfile
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cohost.app.build import build_guard, build_models
from cohost.app.demo import DEMO_STREAMER, DEMO_TWIN, demo_files
from cohost.app.settings import Settings, load_settings
from cohost.chatlog import open_log
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatMessage, Decision, Role, SendResult, TurnTrace
from cohost.core.state import TwinState
from cohost.pipeline.conductor import Conductor
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.turn import TurnOptions, TurnParts
from cohost.pipeline.twitch_rules import LIMIT, WINDOW_S, TwitchRules

START = 1_700_000_000.0
TOPICS = ("bread", "starter", "rye", "keyboard", "neighbours", "game", "boss", "music", "sleep")
OPENERS = ("what about", "how is", "do you like", "why", "tell me about", "ever tried")
SPAM = ("PogChamp", "LUL LUL LUL", "KEKW", "raid hype!!!", "o7", "HYPE HYPE")


def rss_mb() -> float:
    """Current resident set size from /proc (Linux)."""
    with Path("/proc/self/statm").open() as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Sent:
    """One message the sink let out: when (virtual time) and what it answered."""

    at: float
    text: str
    reply_to: str | None


class RecordingSender:
    """A RawSender that accepts every message and remembers when it went."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sent: list[Sent] = []

    async def send_raw(self, text: str, *, reply_to: str | None) -> SendResult:
        self.sent.append(Sent(at=self.clock.now(), text=text, reply_to=reply_to))
        return SendResult(is_sent=True, message_id=f"sent-{len(self.sent)}")


@dataclass(slots=True, kw_only=True)
class FloodReport:
    """What one burst did."""

    messages: int
    seconds: float
    freshness_s: float
    picks: int = 0
    chat_full: int = 0  # picks the conductor held back: chat full, no voice, no turn spent
    answers: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sends: int = 0
    sink: dict[str, int] = field(default_factory=dict)
    max_age_at_pick_s: float = 0.0
    max_age_at_send_s: float = 0.0
    max_sends_per_window: int = 0
    virtual_end_s: float = 0.0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0


def raid(count: int, seconds: float, *, seed: int = 1, addressed: float = 0.2) -> list[ChatMessage]:
    """A burst of chat: raiders talk, spam emotes, and a share of them ask the twin things."""
    rng = random.Random(seed)
    words = vocabulary()
    viewers = [f"raider{i}" for i in range(max(1, count // 2))]
    messages = []
    for i in range(count):
        login = rng.choice(viewers)
        roll = rng.random()
        if roll < addressed:
            # different words each time: near-duplicate questions are (rightly) answered once
            asked = " ".join(rng.sample(words, 5))
            text = f"{DEMO_TWIN} {rng.choice(OPENERS)} {asked}?"
        elif roll < addressed + 0.3:
            text = rng.choice(SPAM)
        else:
            text = f"hello from the raid, {rng.choice(TOPICS)} chat number {i}"
        messages.append(
            ChatMessage(
                id=f"raid-{i}",
                channel=DEMO_STREAMER,
                login=login,
                display_name=login,
                text=text,
                ts=START + seconds * i / count,
                roles=frozenset({Role.SUBSCRIBER}) if i % 7 == 0 else frozenset(),
            )
        )
    return messages


def vocabulary() -> list[str]:
    """Distinct words of the demo writing, for questions that do not repeat each other."""
    text = (demo_files() / "writing.md").read_text(encoding="utf-8").casefold()
    words = {w.strip(".,;:!?()[]\"'*#-") for w in text.split()}
    return sorted(w for w in words if len(w) > 3 and w.isalpha())


def max_per_window(stamps: Sequence[float], window_s: float = WINDOW_S) -> int:
    """The most stamps in any half-open window of this length."""
    ordered = sorted(stamps)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect_left(ordered, start + window_s) - i)
    return best


def flood_settings(data_dir: Path) -> Settings:
    return load_settings(
        data_dir=data_dir,
        twin={
            "name": DEMO_TWIN,
            "streamer": DEMO_STREAMER,
            "writings": [str(demo_files() / "writing.md")],
        },
        picker={"min_gap_s": 0, "user_cooldown_s": 0, "replies_per_minute": 10_000},
        web={"enabled": False},
    )


def streamer_lines() -> list[str]:
    lines = []
    for event in open_log(demo_files() / "chat.txt"):
        if isinstance(event, ChatMessage) and event.login == DEMO_STREAMER:
            lines.append(event.text)
    return lines


async def flood(count: int, seconds: float, *, seed: int = 1) -> FloodReport:
    """Run one burst of `count` messages over `seconds` of chat; returns the figures."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        settings = flood_settings(Path(tmp) / "data")
        models = build_models(settings, streamer_lines=streamer_lines())
        clock = VirtualClock(START)
        sender = RecordingSender(clock)
        sink = TwitchRules.from_settings(sender, clock, settings.sink)
        report = FloodReport(
            messages=count, seconds=seconds, freshness_s=settings.picker.freshness_s
        )
        picked_at: dict[str, float] = {}
        stamped: dict[str, float] = {}
        traces: list[TurnTrace] = []

        def decided(decision: Decision) -> None:
            if decision.category == "chat_full":
                report.chat_full += 1
            if decision.picked:
                report.picks += 1
                picked_at[decision.message.id] = clock.now()

        state = TwinState(topic=" ".join(settings.picker.topic_words))
        conductor = Conductor(
            picker=Picker(settings.picker, settings.twin),
            parts=TurnParts(
                simulator=models.simulator,
                rewriter=models.rewriter,
                guard=build_guard(settings),
                clock=clock,
                sink=sink,
            ),
            options=TurnOptions(
                twin=settings.twin.name,
                max_sim_lines=settings.simulator.max_lines,
                lookahead_lines=models.look_ahead_lines,
            ),
            state=state,
            memory=AnswerMemory.for_settings(settings.picker),
            window_size=settings.replay.window,
            inline=True,
            on_decision=decided,
            on_trace=traces.append,
            chat_ready=sink.can_post_soon,  # as the daemon wires it
        )
        burst = raid(count, seconds, seed=seed)
        started = loop.time()
        warm = max(1, count // 10)
        try:
            for i, message in enumerate(burst):
                if i == warm:
                    report.rss_start_mb = rss_mb()
                stamped[message.id] = message.ts
                clock.advance_to(message.ts)
                await conductor.handle(message)
        finally:
            await models.aclose()
        report.wall_s = loop.time() - started
    report.rss_end_mb = rss_mb()
    report.peak_rss_mb = peak_rss_mb()
    for trace in traces:
        report.outcomes[trace.outcome] = report.outcomes.get(trace.outcome, 0) + 1
    # a reply the sink dropped still ends its turn "answered": count what reached chat
    answered_ids = {s.reply_to for s in sender.sent if s.reply_to is not None}
    report.answers = len(answered_ids)
    report.max_age_at_pick_s = max((picked_at[i] - stamped[i] for i in answered_ids), default=0.0)
    report.max_age_at_send_s = max(
        (s.at - stamped[s.reply_to] for s in sender.sent if s.reply_to is not None), default=0.0
    )
    report.sends = len(sender.sent)
    report.sink = sink.counters.as_dict()
    report.max_sends_per_window = max_per_window([s.at for s in sender.sent])
    report.virtual_end_s = clock.now() - START
    return report


def print_report(r: FloodReport) -> None:
    print(f"burst: {r.messages} messages over {r.seconds:g} s of chat (virtual clock)")
    print(
        f"picks {r.picks}, turns {r.outcomes}, messages answered in chat {r.answers}, "
        f"sends {r.sends}"
    )
    print(f"held back while chat was full (no voice: no turn spent): {r.chat_full}")
    print(f"sink counters: {r.sink}")
    print(
        f"max age of an answered message: {r.max_age_at_pick_s:.2f} s when its turn started, "
        f"{r.max_age_at_send_s:.2f} s when its reply went out (freshness limit {r.freshness_s:g} s)"
    )
    print(f"most sends in any {WINDOW_S:g} s window: {r.max_sends_per_window} (limit {LIMIT})")
    print(f"virtual time at the end: {r.virtual_end_s:.1f} s; wall time {r.wall_s:.1f} s")
    print(
        f"RSS {r.rss_start_mb:.1f} MiB after the first tenth, {r.rss_end_mb:.1f} MiB at the end "
        f"(growth {growth(r):+.1%}); peak {r.peak_rss_mb:.1f} MiB"
    )
    print(
        f"messages={r.messages} picks={r.picks} chat_full={r.chat_full} answers={r.answers} "
        f"sends={r.sends} "
        f"max_age_pick_s={r.max_age_at_pick_s:.2f} max_age_send_s={r.max_age_at_send_s:.2f} "
        f"freshness_s={r.freshness_s:g} max_sends_30s={r.max_sends_per_window} "
        f"dropped_rate={r.sink.get('dropped_rate', 0)} peak_rss_mb={r.peak_rss_mb:.1f} "
        f"rss_growth={growth(r):+.3f} wall_s={r.wall_s:.1f}"
    )


def growth(r: FloodReport) -> float:
    return (r.rss_end_mb - r.rss_start_mb) / r.rss_start_mb if r.rss_start_mb else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 messages in 2 s")
    parser.add_argument("--messages", type=int, help="how many messages (default 5,000)")
    parser.add_argument("--seconds", type=float, help="over how much chat time (default 10)")
    args = parser.parse_args()
    # a flood drops by design: no warning per drop
    logging.basicConfig(level=logging.ERROR, force=True)
    logging.getLogger("cohost").setLevel(logging.ERROR)
    count = args.messages or (1_000 if args.quick else 5_000)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    print_report(asyncio.run(flood(count, seconds)))


if __name__ == "__main__":
    main()
