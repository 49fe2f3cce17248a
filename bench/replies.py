"""Reply quality with a real small rewriter: what SmolLM2 writes, and what reaches chat.

    .venv/bin/python -m bench.replies --quick   # 10 turns a prompt profile, a few minutes
    .venv/bin/python -m bench.replies           # 30 turns a profile

Real turns, on the CPU vLLM: the twin LoRA (trained on a shared log's first part, cached)
simulates, SmolLM2-135M-Instruct fuses. Each turn answers a real message of the log's held-out
part, with the messages before it as the window. Each fusion prompt profile (sectioned: fenced
data under headings; compact: plain lines) runs on the same turns. For each turn the bench
records the rewriter's raw text (what the model wrote) and what the whole turn sent to chat and
the voice, and checks both with the same reader of chat (prompt structure, a speaker label,
runaway repetition, past a chat message's length: `tests/support/chat_checks.py`).

Figures: the share of raw replies that are clean chat (the model's own quality, per profile),
the share of turns that sent a clean reply, how the turns ended (answered, silent, blocked,
failed), and bad texts that reached chat or voice (the target is none). Key figures last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cohost.adapters.openai_models import Deadlines, OpenAIRewriter, OpenAISimulator
from cohost.core.clock import RealClock
from cohost.core.events import ChatMessage, Decision
from cohost.core.options import GuardSettings
from cohost.core.ports import FusionRequest
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from cohost.text.render import clean_text, load_fusion_template
from tests.support.chat_checks import reads_as_chat

PROFILES = ("sectioned", "compact")
WINDOW = 8
DEADLINES = Deadlines(first_token_s=30.0, stall_s=15.0, cap_s=30.0)  # a busy 2-core machine


class RecordingRewriter:
    """The real rewriter, keeping the raw text of every reply it streamed."""

    def __init__(self, inner: OpenAIRewriter) -> None:
        self.inner = inner
        self.raw: list[str] = []

    def prompt(self, request: FusionRequest) -> str:
        return self.inner.prompt(request)

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        pieces: list[str] = []
        self.raw.append("")
        index = len(self.raw) - 1
        async with contextlib.aclosing(self.inner.stream(request)) as stream:
            async for piece in stream:
                pieces.append(piece)
                self.raw[index] = "".join(pieces)
                yield piece


class VoiceRecorder:
    """A speaker that only remembers what it was asked to say."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def say(self, text: str, *, turn_id: str = "") -> None:
        self.said.append(text)

    async def stop(self) -> None:
        return None


@dataclass(slots=True)
class ProfileFigures:
    """One profile's turns."""

    turns: int = 0
    raw_clean: int = 0
    sent_clean: int = 0
    bad_out: list[tuple[str, str]] = field(default_factory=list)
    raw_flaws: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # message, raw, sent
    seconds: float = 0.0


def cases(heldout: Sequence[ChatMessage], earlier: Sequence[ChatMessage], n: int) -> list[int]:
    """Indexes (into earlier + heldout) of held-out messages a co-host might answer."""
    every = [*earlier, *heldout]
    start = len(earlier)
    picks = [
        i
        for i in range(start, len(every))
        if len(clean_text(every[i].text).split()) >= 4 and not every[i].text.startswith("!")
    ]
    random.Random(7).shuffle(picks)
    return sorted(picks[:n])


async def run_profile(
    profile: str,
    *,
    url: str,
    base: str,
    twin_model: str,
    every: Sequence[ChatMessage],
    indexes: Sequence[int],
    speakers: Sequence[str],
) -> ProfileFigures:
    """The same turns with one fusion prompt profile."""
    figures = ProfileFigures()
    template = load_fusion_template(Path(profile))
    started = time.monotonic()
    async with (
        OpenAISimulator(url=url, model=twin_model, deadlines=DEADLINES, seed=None) as simulator,
        OpenAIRewriter(
            url=url, model=base, deadlines=DEADLINES, template=template, max_tokens=80
        ) as inner,
    ):
        rewriter = RecordingRewriter(inner)
        for i in indexes:
            message = every[i]
            window = list(every[max(0, i - WINDOW) : i + 1])
            voice, sink = VoiceRecorder(), RecordingSink()
            parts = TurnParts(
                simulator=simulator,
                rewriter=rewriter,
                guard=Guard(GuardSettings()),
                clock=RealClock(),
                speaker=voice,
                sink=sink,
            )
            decision = Decision(
                message=message, picked=True, score=1.0, parts=(), reason="bench", category="picked"
            )
            before = len(rewriter.raw)
            trace = await Turn(parts, TurnOptions(twin="twin"), decision, window).run()
            raw = rewriter.raw[before] if len(rewriter.raw) > before else ""
            figures.turns += 1
            figures.outcomes[trace.outcome] += 1
            flaw = reads_as_chat(raw, speakers) if raw.strip() else "empty"
            if flaw:
                figures.raw_flaws[flaw] += 1
            else:
                figures.raw_clean += 1
            sent = [text for text, _ in sink.sent]
            out = [*sent, *voice.said]
            bad = [(text, why) for text in out if (why := reads_as_chat(text, speakers))]
            figures.bad_out += bad
            if sent and not bad:
                figures.sent_clean += 1
            figures.examples.append((message.text, raw, " ".join(sent)))
    figures.seconds = time.monotonic() - started
    return figures


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}" if whole else "none"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 turns a profile")
    parser.add_argument("--turns", type=int, help="turns per profile (default 10 quick, 30 full)")
    parser.add_argument("--examples", type=int, default=5, help="replies shown per profile")
    args = parser.parse_args(argv)
    turns = args.turns or (10 if args.quick else 30)

    from tests.support.smollm2 import (  # noqa: PLC0415
        TWIN,
        ensure_smollm2,
        ensure_twin_lora,
        serve_options,
    )
    from tests.support.vllm import running  # noqa: PLC0415

    base = ensure_smollm2()
    lora = ensure_twin_lora(base)
    every = [*lora.earlier, *lora.heldout]
    indexes = cases(lora.heldout, lora.earlier, turns)
    speakers = sorted({TWIN, *(m.login.casefold() for m in every)})
    results: dict[str, ProfileFigures] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-replies-") as tmp,
        running(serve_options(base, lora.adapter), Path(tmp) / "vllm.log") as root,
    ):
        for profile in PROFILES:
            results[profile] = asyncio.run(
                run_profile(
                    profile,
                    url=f"{root}/v1",
                    base=str(base),
                    twin_model=TWIN,
                    every=every,
                    indexes=indexes,
                    speakers=speakers,
                )
            )
    print(f"{turns} real turns a profile: twin LoRA simulates, SmolLM2-135M-Instruct fuses")
    print(f"  {'profile':<10} {'raw clean %':>11} {'sent clean %':>12} {'bad out':>7}  outcomes")
    for profile, f in results.items():
        print(
            f"  {profile:<10} {_pct(f.raw_clean, f.turns):>11} {_pct(f.sent_clean, f.turns):>12}"
            f" {len(f.bad_out):>7}  {dict(f.outcomes)}  ({f.seconds:.0f} s)"
        )
        print(f"    raw flaws: {dict(f.raw_flaws)}")
        for message, raw, sent in f.examples[: args.examples]:
            print(f"    viewer: {message!r}\n      raw:  {raw!r}\n      sent: {sent!r}")
        for text, why in f.bad_out:
            print(f"    BAD OUT ({why}): {text!r}")
    key = {"turns": str(turns)}
    for profile, f in results.items():
        key[f"raw_clean_{profile}_pct"] = _pct(f.raw_clean, f.turns)
        key[f"sent_clean_{profile}_pct"] = _pct(f.sent_clean, f.turns)
        key[f"bad_out_{profile}"] = str(len(f.bad_out))
    print()
    print(" ".join(f"{k}={v}" for k, v in key.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
