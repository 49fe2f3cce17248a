"""`cohost transcribe AUDIO --out transcript.jsonl`: speech to timestamped lines, resumable.

Each line of the output is one segment, `{"start": s, "end": s, "text": ...}`, written and
flushed as it is recognised. Run again on the same output, it goes on after the last segment
written (a VOD of hours survives an interrupted run); `--fresh` starts over.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cohost.app.settings import Settings
from cohost.core.errors import InputError


def register(subparsers: Any) -> None:
    """Add the `transcribe` command."""
    command = subparsers.add_parser(
        "transcribe", help="speech in an audio file (a VOD) to timestamped lines (JSONL)"
    )
    command.add_argument("audio", type=Path, help="the audio (any format PyAV reads)")
    command.add_argument("--out", type=Path, required=True, help="the transcript (.jsonl)")
    command.add_argument("--fresh", action="store_true", help="start over, not where it ended")
    command.add_argument(
        "--hotwords", default=None, help="names to spell right (default: the twin's names)"
    )
    command.set_defaults(handler=_transcribe)


def resume_point(out: Path) -> float:
    """Where a transcript left off: the end of its last whole line (0 for none)."""
    if not out.exists():
        return 0.0
    end = 0.0
    with out.open(encoding="utf-8") as f:
        for line in f:
            try:
                end = max(end, float(json.loads(line)["end"]))
            except (ValueError, KeyError, TypeError):
                break  # a line cut short by the interruption: everything after it is redone
    return end


def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from cohost.app.build import build_transcriber  # noqa: PLC0415

    audio: Path = args.audio
    out: Path = args.out
    if not audio.is_file():
        raise InputError("no such audio file", path=audio)
    start = 0.0 if args.fresh else resume_point(out)
    if start > 0:
        _keep_whole_lines(out)
        print(f"cohost transcribe: going on from {start:.1f} s", file=sys.stderr)
    elif out.exists():
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    hotwords = args.hotwords
    if hotwords is None:
        hotwords = " ".join(n for n in (settings.twin.name, *settings.twin.aliases) if n)
    transcriber = build_transcriber(settings, sentences=True)  # faster-whisper, or a server
    count = 0
    with (
        out.open("a", encoding="utf-8") as f,
        tqdm(desc="transcribe", unit="s", file=sys.stderr, disable=not sys.stderr.isatty()) as bar,
    ):
        bar.update(round(start))
        for segment in transcriber.transcribe(audio, hotwords=hotwords, start_s=start):
            line = {"start": round(segment.start, 2), "end": round(segment.end, 2)}
            f.write(json.dumps(line | {"text": segment.text}, ensure_ascii=False) + "\n")
            f.flush()
            count += 1
            bar.update(max(0, round(segment.end) - bar.n))
    print(f"cohost transcribe: {count} segment(s) written to {out}", file=sys.stderr)
    return 0


def _keep_whole_lines(out: Path) -> None:
    """Drop a last line cut short by an interruption, so appending starts clean."""
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            break
        if not line.endswith("\n"):
            break
        kept.append(line)
    out.write_text("".join(kept), encoding="utf-8")
