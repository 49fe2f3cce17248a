"""Reader + picker throughput on the largest shared chat log, in a loop; prints msgs/s and peak RSS.

    python bench/picker_flood.py [--quick] [--log PATH] [--seconds S]

The log is read again and again (the reader streams it from disk every pass), every message goes
through the picker with a moving window and answer memory, as the daemon would do. RSS is sampled
after each pass, so flat memory shows as the same figure at the start, middle and end. The reader
alone is timed too, so a change shows on the side it belongs to.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter, deque
from pathlib import Path

from cohost.chatlog import open_log
from cohost.core.events import ChatMessage
from cohost.core.options import PickerSettings, TwinSettings
from cohost.pipeline.pick import AnswerMemory, Picker

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "twitch"


def rss_mb() -> float:
    """Current resident set size from /proc (Linux)."""
    with Path("/proc/self/statm").open() as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def largest_log() -> Path:
    logs = [p for p in SHARED.glob("*/*") if p.suffix in {".irc", ".log", ".txt", ".json"}]
    logs = [p for p in logs if "spam" not in p.parts[-2]]
    if not logs:
        sys.exit(f"no chat logs under {SHARED}; pass --log PATH")
    return max(logs, key=lambda p: p.stat().st_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of 30")
    parser.add_argument("--log", type=Path, help="the log to read (default: the largest shared)")
    parser.add_argument("--seconds", type=float, help="how long to run")
    args = parser.parse_args()
    path = args.log or largest_log()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    picker = Picker(PickerSettings(), TwinSettings(name="twin", streamer=""))

    def one_pass(categories: Counter[str] | None = None) -> tuple[int, int]:
        # Each pass replays the log as a fresh stream at the log's own times, so every message
        # is fresh when judged and the rate rules see time move forward. (Shifting `now` alone,
        # as this bench once did, left every message stale after the first pass: the picker
        # skipped it at its first rule.)
        memory = AnswerMemory()
        window: deque[ChatMessage] = deque(maxlen=20)
        messages = picked = 0
        for event in open_log(path):
            if not isinstance(event, ChatMessage):
                continue
            now = event.ts
            decision = picker.decide(event, window=window, memory=memory, now=now)
            if categories is not None:
                categories[decision.category] += 1
            if decision.picked:
                memory.record(event, now)
                picked += 1
            window.append(event)
            messages += 1
        return messages, picked

    def read_pass() -> int:
        return sum(1 for event in open_log(path) if isinstance(event, ChatMessage))

    # one warm-up pass (imports, regex caches, page cache) that also counts the verdicts
    categories: Counter[str] = Counter()
    warm_up, _ = one_pass(categories)
    rss_start = rss_mb()
    rss_samples = [rss_start]
    total = picked_total = passes = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    while time.perf_counter() - started < seconds:
        n, p = one_pass()
        total += n
        picked_total += p
        passes += 1
        rss_samples.append(rss_mb())
    elapsed = time.perf_counter() - started
    rate = total / elapsed
    # Beside the wall-clock figure: per second of this process's CPU time, which other work on
    # a shared machine slows far less (it still pays for caches they evict).
    cpu_rate = total / (time.process_time() - cpu_started)

    read_total = 0
    read_started = time.perf_counter()
    while time.perf_counter() - read_started < seconds / 3:
        read_total += read_pass()
    read_rate = read_total / (time.perf_counter() - read_started)

    mid = rss_samples[len(rss_samples) // 2]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    shares = ", ".join(f"{name} {n / warm_up:.1%}" for name, n in categories.most_common())
    print(f"log: {path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"passes: {passes}, messages: {total}, picked: {picked_total}, seconds: {elapsed:.2f}")
    print(f"decisions (one pass): {shares}")
    print(f"reader + picker per CPU second: {cpu_rate:.0f} msgs/s; reader alone: {read_rate:.0f}")
    print(f"RSS MiB start {rss_start:.1f}, middle {mid:.1f}, end {rss_samples[-1]:.1f}")
    print(f"target: 50000 msgs/s on 2 cores; ratio to target {rate / 50000:.2f}")
    print(
        f"msgs_per_s={rate:.0f} picked={picked_total} cpu_msgs_per_s={cpu_rate:.0f} "
        f"reader_msgs_per_s={read_rate:.0f} "
        f"rss_start_mb={rss_start:.1f} rss_end_mb={rss_samples[-1]:.1f} "
        f"rss_growth={rss_samples[-1] / rss_start - 1:.3f} peak_rss_mb={peak_kb / 1024:.1f}"
    )


if __name__ == "__main__":
    main()
