"""`cohost say TEXT [--out FILE.wav]`: one utterance through the configured voice."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from cohost.config import Settings
from cohost.errors import SpeakerUnavailable


def register(subparsers: Any) -> None:
    """Add the `say` command."""
    say = subparsers.add_parser("say", help="speak one sentence (or write it to a WAV file)")
    say.add_argument("text", help="what to say")
    say.add_argument("--out", type=Path, help="write a WAV file instead of playing it")
    say.set_defaults(handler=_say)


def _say(args: argparse.Namespace, settings: Settings) -> int:
    from cohost.adapters.speech import EspeakSpeaker  # noqa: PLC0415 (fast --help)
    from cohost.clock import RealClock  # noqa: PLC0415

    speech = settings.speech
    try:
        speaker = EspeakSpeaker(
            RealClock(),
            output="wav" if args.out else "device",
            wav_dir=args.out.parent if args.out else None,
            voice=speech.voice,
            rate=speech.rate,
        )
        try:
            if args.out is not None:
                info = asyncio.run(speaker.synthesize(args.text, args.out))
                print(f"{args.out}: {info.seconds:.2f} s at {info.sample_rate} Hz")
            else:
                asyncio.run(speaker.say(args.text, turn_id="say"))
        finally:
            speaker.close()
    except SpeakerUnavailable as exc:
        print(f"cohost say: {exc}", file=sys.stderr)
        return 1
    return 0
