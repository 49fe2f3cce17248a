"""`cohost say TEXT [--out FILE.wav]`: one utterance through the configured voice."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from cohost.app.settings import Settings
from cohost.core.errors import SpeakerUnavailable


def register(subparsers: Any) -> None:
    """Add the `say` command."""
    say = subparsers.add_parser(
        "say", help="speak one sentence with the configured voice (or write it to a WAV file)"
    )
    say.add_argument("text", help="what to say")
    say.add_argument("--out", type=Path, help="write a WAV file instead of playing it")
    say.set_defaults(handler=_say)


def _say(args: argparse.Namespace, settings: Settings) -> int:
    if not args.text.strip():
        print("cohost say: nothing to say: give the text to speak", file=sys.stderr)
        return 1
    out: Path | None = args.out
    if out is not None:
        if out.suffix.lower() != ".wav":
            print(f"cohost say: {out}: --out writes WAV audio; name a .wav file", file=sys.stderr)
            return 1
        # Tried before the voice runs: an engine that cannot write its file can hang, and its
        # worker thread would then keep the process from exiting. (OSError: main says where.)
        out.parent.mkdir(parents=True, exist_ok=True)
        existed = out.exists()
        with out.open("ab"):
            pass
        if not existed:
            out.unlink()
    try:
        return asyncio.run(_speak(args.text, args.out, settings))
    except SpeakerUnavailable as exc:
        print(f"cohost say: {exc}", file=sys.stderr)
        return 1


async def _speak(text: str, out: Path | None, settings: Settings) -> int:
    """Say the text as the daemon would, with the same engine, voice and output."""
    from cohost.adapters.speech import WavSpeaker  # noqa: PLC0415
    from cohost.app.build import speaker_from_settings  # noqa: PLC0415
    from cohost.core.clock import RealClock  # noqa: PLC0415

    if out is not None:
        # the folder is the user's: nothing in it is pruned
        speech = settings.speech.model_copy(
            update={"output": "wav", "wav_dir": out.parent, "keep_wavs": 0}
        )
        settings = settings.model_copy(update={"speech": speech})
    speaker = speaker_from_settings(settings, RealClock())
    if not isinstance(speaker, WavSpeaker):
        print(
            "cohost say: the voice is captions only: set COHOST_SPEECH__ENGINE "
            "(espeak, piper or http), or install espeak-ng for the default",
            file=sys.stderr,
        )
        return 1
    engine = settings.speech.engine
    async with speaker:
        if out is not None:
            info = await speaker.synthesize(text, out)
            print(f"{out}: {info.seconds:.2f} s at {info.sample_rate} Hz ({engine})")
            return 0
        await speaker.say(text, turn_id="say")
    said = speaker.recent[-1]
    where = "played" if speaker.output == "device" else f"written to {said.path}"
    print(f"{engine}: {said.seconds:.2f} s, {where}")
    return 0
