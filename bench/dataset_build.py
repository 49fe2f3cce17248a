"""`cohost dataset build` throughput on the largest shared chat log: chat lines per second.

    python bench/dataset_build.py [--quick] [--log PATH] [--twin LOGIN] [--seconds S]

The log is built again and again (every pass streams it from disk through the reader, every
cleaning rule, the moderation look-ahead and the renderer, and writes the JSONL to a temporary
file), as `cohost dataset build` does. The twin is the log's most talkative chatter, so many
windows are rendered. The last line holds the key figures as name=value pairs.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cohost.app.build import dataset_options
from cohost.app.settings import Settings
from cohost.chatlog import open_log
from cohost.core.events import ChatMessage
from cohost.dataset.build import DatasetBuilder

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "twitch"


def rss_mb() -> float:
    """Current resident set size from /proc (Linux)."""
    with Path("/proc/self/statm").open() as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def largest_log() -> Path:
    """The biggest chat log of the shared data (not the spam list, which has no users)."""
    logs = [p for p in SHARED.glob("*/*") if p.suffix in {".irc", ".log", ".txt", ".json"}]
    logs = [p for p in logs if "spam" not in p.parts[-2]]
    if not logs:
        sys.exit(f"no chat logs under {SHARED}; pass --log PATH")
    return max(logs, key=lambda p: p.stat().st_size)


def most_talkative(path: Path, bots: set[str]) -> str:
    """The login with the most lines in a log, bots left out."""
    counts = Counter(
        e.login for e in open_log(path) if isinstance(e, ChatMessage) and e.login not in bots
    )
    return counts.most_common(1)[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of 30")
    parser.add_argument("--log", type=Path, help="the log to build (default: the largest shared)")
    parser.add_argument("--twin", help="whose lines are the twin's (default: the most talkative)")
    parser.add_argument("--seconds", type=float, help="how long to run")
    args = parser.parse_args()
    path: Path = args.log or largest_log()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    settings = Settings()
    twin = args.twin or most_talkative(path, set(settings.picker.known_bots))
    options = dataset_options(settings, logins=[twin], name="Twin")
    print(f"log {path.name} ({path.stat().st_size / 2**20:.1f} MiB), twin {twin}")
    lines = examples = passes = 0
    rss = [rss_mb()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "train.jsonl"
        while time.perf_counter() - started < seconds or passes == 0:
            builder = DatasetBuilder(options)
            with out.open("w", encoding="utf-8") as file:
                for text in builder.from_log(open_log(path), source=str(path)):
                    file.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            lines += builder.report.messages
            examples += builder.report.examples
            passes += 1
            rss.append(rss_mb())
    elapsed = time.perf_counter() - started
    per_pass = builder.report
    print(
        f"{passes} pass(es) in {elapsed:.1f} s; per pass {per_pass.messages} lines, "
        f"{per_pass.lines_kept} kept, {per_pass.examples} examples; "
        f"RSS start/middle/end {rss[0]:.0f}/{rss[len(rss) // 2]:.0f}/{rss[-1]:.0f} MiB"
    )
    print(
        f"lines_per_s={lines / elapsed:.0f} examples_per_s={examples / elapsed:.0f} "
        f"passes={passes} lines_per_pass={per_pass.messages} rss_mb={rss[-1]:.0f}"
    )


if __name__ == "__main__":
    main()
