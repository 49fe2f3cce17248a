"""Whole-turn latency, pipelined vs sequential: on the scripted server, then on a real CPU vLLM.

    .venv/bin/python -m bench.turn_latency --quick  # scripted server, 5 turns a mode, < 1 min
    .venv/bin/python -m bench.turn_latency          # 30 turns a mode, then a real vLLM if set up

A whole `Turn` runs (recall from a journal that answers in a fixed time, simulate over
`/v1/completions`, fuse over chat completions, guard, speak, post) with the real OpenAI
adapters. Per mode and turn it measures, from the moment `Turn.run()` is called: the first
`Speaker.say()` call (time to first audio), the first `ChatSink.send()` call (time to chat post)
and the return of `run()` (total). The speaker stamps each call and returns at once, as the sink
does: the figures are cohost's pipeline, not the length of the audio. Modes alternate turn by
turn after one warm-up turn each, so drift on a busy machine hits both alike.

On the scripted server the model speeds are fixed (the serving thread sends token i at
TTFT + i / rate and ends the stream one token gap after the last), so the floor of each figure
follows from the scripted texts' token counts; cohost's overhead is measured minus floor.
The server runs on its own thread and event loop, as a model server would run apart; its own
pacing slack still counts in that overhead, so a second floor ("bare") is measured too: a plain
aiohttp client reading the same streams up to the same tokens. The issue's speeds run first,
then the same speeds with the rewriter's first token as fast as the simulator's (a local
rewriter). On the real vLLM (the tiny Llama, its `twin` LoRA as simulator, the base model as
rewriter) speeds vary with the text and the machine: only measured figures are reported there,
no floor. Where the time to first audio goes at the floors is printed too, with what the
first-audio target leaves the first spoken chunk and the slowest rewriter first token that
still meets it.
The key figures are printed last, on one line of name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cohost.adapters.openai_models import Deadlines, OpenAIRewriter, OpenAISimulator
from cohost.core.clock import RealClock
from cohost.core.events import ChatMessage, Decision, Hit, Tier
from cohost.core.options import GuardSettings
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.privacy import privacy_rule_for, speakable
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from cohost.text.sentences import SentenceBuffer
from tests.support.scripted_server import Script, ScriptedServer, chat_text, tokens_of

Mode = Literal["pipelined", "sequential"]
MODES: tuple[Mode, Mode] = ("pipelined", "sequential")
FIGURES = ("first audio", "chat post", "total")

TWIN = "twin"
PRODUCT = TurnOptions(twin=TWIN)  # the turn's defaults, as the daemon runs it
MAX_SIM_LINES = PRODUCT.max_sim_lines
MAX_TWIN_LINES = 2  # the simulator's default
LOOKAHEAD_LINES = PRODUCT.lookahead_lines
FIRST_CHUNK_WORDS = PRODUCT.first_chunk_words
TARGET_RATIO = 0.5
BARE_READS = 10  # at most this many plain-client reads of each stream
DEADLINES = Deadlines(first_token_s=30.0, stall_s=30.0, cap_s=120.0)  # a busy 2-core machine

WINDOW = (
    ChatMessage(id="1", channel="bench", login="bo", display_name="bo", text="hello chat", ts=0.0),
    ChatMessage(
        id="2",
        channel="bench",
        login="ana",
        display_name="ana",
        text="twin what are we playing tonight",
        ts=1.0,
    ),
)
ASKED = WINDOW[-1]

# The twin model's continuation: its open line first, then the chat it imagines.
SIM_LINES = (
    (TWIN, "oh hey ana, welcome back, we are doing the long route again"),
    ("ana", "the long route?? you said never again last week"),
    ("bo", "lol here we go"),
    ("cyra", "chat is this the cursed map"),
    (TWIN, "it is, and i regret everything already"),
    ("ana", "f"),
)
SIMULATION = chat_text(SIM_LINES)
NOTE = Hit(
    entry_id="tonight",
    title="Tonight",
    text="Chat voted for the long route of the cursed map again tonight.",
    score=0.8,
    tier=Tier.PUBLIC,
)
REPLY = (
    "Welcome back, ana! Yes, the long route again, chat voted for it and I regret nothing yet. "
    "Grab a snack, this one takes a while."
)
VLLM_REPLY_TOKENS = len(tokens_of(REPLY))  # the real vLLM's replies are capped as long
VLLM_SEED = 20261201  # the first pair of real-vLLM turns samples with this seed, the next +1 …


@dataclass(frozen=True, slots=True, kw_only=True)
class Speeds:
    """Scripted model speeds: seconds to the first token and tokens per second."""

    sim_ttft_s: float = 0.060
    sim_tps: float = 150.0
    rewrite_ttft_s: float = 0.300
    rewrite_tps: float = 80.0
    # The journal's answer, embedding included: the edge engine's p50 at 10k entries with the
    # machine under load (docs/figures.md). Both modes recall, as the daemon does.
    recall_s: float = 0.023


# The speeds but for the rewriter's first token, as fast as the simulator's: an
# instruction model on a local vLLM beside the LoRA rather than an API across the internet.
LOCAL_REWRITER = Speeds(rewrite_ttft_s=Speeds().sim_ttft_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnTiming:
    """One turn's figures in seconds from `run()`; None when it never spoke or posted."""

    first_audio_s: float | None
    post_s: float | None
    total_s: float
    outcome: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stat:
    """p50 and p90 of one figure, in seconds, over the turns that reached it."""

    p50: float
    p90: float
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeFigures:
    """One mode's figures over its turns."""

    turns: list[TurnTiming]
    stats: dict[str, Stat]  # by FIGURES name; a figure no turn reached is absent

    @property
    def outcomes(self) -> dict[str, int]:
        """How many turns ended each way."""
        return dict(Counter(turn.outcome for turn in self.turns))

    @property
    def reasons(self) -> dict[str, int]:
        """Why the turns that did not answer ended as they did, with counts."""
        return dict(
            Counter(f"{t.outcome}: {t.reason}" for t in self.turns if t.outcome != "answered")
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Floors:
    """The earliest each figure can happen at the scripted speeds, in seconds, by mode."""

    by_mode: dict[Mode, dict[str, float]]
    sim_tokens: dict[Mode, int]  # tokens the simulator reads before fusion starts
    first_chunk_tokens: int  # reply tokens until the first spoken chunk is known to be finished
    reply_tokens: int
    # where the time to first audio goes: (what, seconds), adding up to its floor
    parts: dict[Mode, list[tuple[str, float]]]

    @property
    def first_audio_ratio(self) -> float:
        """Pipelined over sequential time to first audio, at the floors."""
        return self.by_mode["pipelined"]["first audio"] / self.by_mode["sequential"]["first audio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptedReport:
    """The scripted run: speeds, floors and each mode's figures."""

    speeds: Speeds
    floors: Floors
    modes: dict[Mode, ModeFigures]
    bare: dict[Mode, dict[str, float]]  # the floors as a plain HTTP client meets them
    requests: int  # requests the server saw by the turns (both models, warm-up included)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimedJournal:
    """A Journal that answers every query with the same note, of this tier, after a fixed time."""

    seconds: float
    tier: Tier = Tier.PUBLIC

    async def search(self, query: str, *, k: int) -> list[Hit]:
        await asyncio.sleep(self.seconds)
        return [replace(NOTE, tier=self.tier)][:k]


@dataclass(slots=True, kw_only=True)
class StampingSpeaker:
    """A Speaker that stamps each say() call and returns at once (no audio is played)."""

    calls: list[float] = field(default_factory=list)

    async def say(self, sentence: str, *, turn_id: str) -> None:
        self.calls.append(time.perf_counter())

    async def stop(self) -> None:
        return None


@dataclass(slots=True, kw_only=True)
class StampingSink:
    """A ChatSink that stamps each send() call and returns at once."""

    calls: list[float] = field(default_factory=list)

    async def send(self, text: str, *, reply_to: str | None = None) -> bool:
        self.calls.append(time.perf_counter())
        return True


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(turns: list[TurnTiming]) -> ModeFigures:
    """p50 and p90 of each figure over the turns that reached it."""
    columns = {
        "first audio": [t.first_audio_s for t in turns if t.first_audio_s is not None],
        "chat post": [t.post_s for t in turns if t.post_s is not None],
        "total": [t.total_s for t in turns],
    }
    stats = {
        name: Stat(p50=percentile(v, 50), p90=percentile(v, 90), n=len(v))
        for name, v in columns.items()
        if v
    }
    return ModeFigures(turns=turns, stats=stats)


def _sim_stop_line(*, lookahead: int | None) -> int | None:
    """The simulated line after which the simulator stops (None: the text runs out first)."""
    twins = 0
    after_twin = -1
    for j, (speaker, _) in enumerate(SIM_LINES):
        is_twin = speaker == TWIN
        twins += is_twin
        if j + 1 >= MAX_SIM_LINES or twins >= MAX_TWIN_LINES:
            return j  # the adapter's or the request's cap
        if after_twin >= 0:
            after_twin += 1
        elif is_twin:
            after_twin = 0
        if lookahead is not None and after_twin >= lookahead:
            return j  # the pipelined turn has its twin line and look-ahead
    return None


def floors(
    speeds: Speeds,
    *,
    lookahead: int = LOOKAHEAD_LINES,
    first_chunk_words: int | None = FIRST_CHUNK_WORDS,
    private: bool = False,
) -> Floors:
    """Each figure's floor at these speeds, from the scripted texts' token counts.

    lookahead and first_chunk_words: the pipelined turn's settings (the product's by default).
    private: the recalled note is private, so speech keeps the privacy rule's run of words,
    less one, behind the stream.
    """
    sim = tokens_of(SIMULATION)
    newlines = [i for i, token in enumerate(sim) if token == "\n"]
    twin_line = newlines[next(j for j, (speaker, _) in enumerate(SIM_LINES) if speaker == TWIN)]
    reply = tokens_of(REPLY)
    buffer = SentenceBuffer(first_chunk_words=first_chunk_words)
    # The turn hands a chunk to the speaker when the token after it has arrived (or the reply
    # ended): only then is its last word known to be whole.
    first, chunk = len(reply), ""
    for i, token in enumerate(reply):
        if handed := buffer.feed(token):
            first, chunk = i, handed[0]
            break
    if private:
        # the turn speaks the chunk once enough whole words follow it (the privacy margin)
        run = PRODUCT.privacy_run_words
        first = next(
            (
                i
                for i in range(first, len(reply))
                if speakable([chunk], "".join(reply[: i + 1]), 0, run)
            ),
            len(reply),
        )
    rewrite_first = speeds.rewrite_ttft_s + first / speeds.rewrite_tps
    rewrite_all = speeds.rewrite_ttft_s + len(reply) / speeds.rewrite_tps  # [DONE] a gap later
    by_mode: dict[Mode, dict[str, float]] = {}
    sim_tokens: dict[Mode, int] = {}
    parts: dict[Mode, list[tuple[str, float]]] = {}
    for mode in MODES:
        line = _sim_stop_line(lookahead=lookahead if mode == "pipelined" else None)
        last = newlines[line] if line is not None else len(sim)
        sim_tokens[mode] = last + 1 if line is not None else len(sim)
        simulated = speeds.sim_ttft_s + last / speeds.sim_tps
        # the sequential baseline recalls first; a pipelined turn recalls while it simulates
        if mode == "pipelined":
            fused_at = max(simulated, speeds.recall_s)
            recall = ("journal: recall, beyond the simulation", fused_at - simulated)
        else:
            fused_at = speeds.recall_s + simulated
            recall = ("journal: recall", speeds.recall_s)
        # the sequential baseline speaks only once the whole reply is there
        speaks_at = rewrite_first if mode == "pipelined" else rewrite_all
        by_mode[mode] = {
            "first audio": fused_at + speaks_at,
            "chat post": fused_at + rewrite_all,
            "total": fused_at + rewrite_all,  # speaker and sink return at once
        }
        after = "look-ahead" if mode == "pipelined" else "rest of the simulation"
        parts[mode] = [
            recall,
            ("simulator: to first token", speeds.sim_ttft_s),
            (f"simulator: the twin's line, to token {twin_line + 1}", twin_line / speeds.sim_tps),
            (f"simulator: {after}, to token {last + 1}", (last - twin_line) / speeds.sim_tps),
            ("rewriter: to first token", speeds.rewrite_ttft_s),
            (
                f"rewriter: first chunk{' + margin' if private else ''}, at token {first + 1}"
                if mode == "pipelined"
                else f"rewriter: whole reply, {len(reply)} tokens",
                speaks_at - speeds.rewrite_ttft_s,
            ),
        ]
    return Floors(
        by_mode=by_mode,
        sim_tokens=sim_tokens,
        first_chunk_tokens=first + 1 if first < len(reply) else len(reply),
        reply_tokens=len(reply),
        parts=parts,
    )


def first_chunk_budget(speeds: Speeds, *, lookahead: int) -> float:
    """Seconds the first chunk's tokens may take for the floor ratio to meet the target."""
    at = floors(speeds, lookahead=lookahead)
    piped = at.by_mode["pipelined"]["first audio"] - at.parts["pipelined"][-1][1]
    return TARGET_RATIO * at.by_mode["sequential"]["first audio"] - piped


def breakeven_rewriter_ttft(speeds: Speeds) -> float:
    """The slowest rewriter first token (s) at which the floors still meet the target ratio.

    The rewriter's time to first token adds to both modes alike, so with A and B the floors
    without it, (A + T) / (B + T) <= r holds while T <= (r * B - A) / (1 - r).
    """
    at = floors(replace(speeds, rewrite_ttft_s=0.0))
    piped = at.by_mode["pipelined"]["first audio"]
    seq = at.by_mode["sequential"]["first audio"]
    return max(0.0, (TARGET_RATIO * seq - piped) / (1 - TARGET_RATIO))  # 0: not even instant


def _decision() -> Decision:
    return Decision(
        message=ASKED,
        picked=True,
        score=2.0,
        parts=(("direct", 2.0),),
        reason="benchmark",
        category="picked",
    )


async def time_turn(
    simulator: OpenAISimulator, rewriter: OpenAIRewriter, mode: Mode, journal: TimedJournal
) -> TurnTiming:
    """One whole turn with a stamping speaker and sink, and the daemon's guard."""
    speaker, sink = StampingSpeaker(), StampingSink()
    settings = GuardSettings()
    privacy = privacy_rule_for(n=PRODUCT.privacy_run_words)
    parts = TurnParts(
        simulator=simulator,
        rewriter=rewriter,
        guard=Guard(settings, rules=[*default_rules(settings), privacy]),
        clock=RealClock(),
        journal=journal,
        speaker=speaker,
        sink=sink,
    )
    options = TurnOptions(
        twin=TWIN, mode=mode, max_sim_lines=MAX_SIM_LINES, lookahead_lines=LOOKAHEAD_LINES
    )
    turn = Turn(parts, options, _decision(), WINDOW)
    start = time.perf_counter()
    trace = await turn.run()
    total = time.perf_counter() - start
    return TurnTiming(
        first_audio_s=speaker.calls[0] - start if speaker.calls else None,
        post_s=sink.calls[0] - start if sink.calls else None,
        total_s=total,
        outcome=trace.outcome,
        reason=trace.reason,
    )


SimulatorFor = Callable[[int], contextlib.AbstractAsyncContextManager[OpenAISimulator]]


async def time_modes(
    simulator_for: SimulatorFor, rewriter: OpenAIRewriter, turns: int, journal: TimedJournal
) -> dict[Mode, ModeFigures]:
    """`turns` turns per mode, alternating, after a warm-up pair; pair i simulates on
    `simulator_for(i)` (the warm-up on -1)."""
    timings: dict[Mode, list[TurnTiming]] = {mode: [] for mode in MODES}
    for i in range(-1, turns):
        # alternate which mode goes first, so neither always follows the other
        for mode in MODES if i % 2 == 0 else MODES[::-1]:
            async with simulator_for(i) as simulator:
                timing = await time_turn(simulator, rewriter, mode, journal)
            if i >= 0:
                timings[mode].append(timing)
    return {mode: summarise(timings[mode]) for mode in MODES}


@contextlib.contextmanager
def serve_on_thread(speeds: Speeds) -> Iterator[ScriptedServer]:
    """The scripted server on a thread and event loop of its own, as a model server runs apart."""

    def script(body: dict[str, Any]) -> Script:
        if "messages" in body:
            return Script(
                text=REPLY,
                first_token_delay=speeds.rewrite_ttft_s,
                tokens_per_second=speeds.rewrite_tps,
            )
        return Script(
            text=SIMULATION, first_token_delay=speeds.sim_ttft_s, tokens_per_second=speeds.sim_tps
        )

    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        try:
            async with ScriptedServer(script, models=(TWIN, "rewriter")) as server:
                holder.update(server=server, loop=asyncio.get_running_loop(), stop=stop)
                ready.set()
                await stop.wait()
        finally:
            ready.set()  # also when it failed to start

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # handed to the caller below
            holder["error"] = exc

    thread = threading.Thread(target=run, name="scripted-server", daemon=True)
    thread.start()
    ready.wait(30)
    if "server" not in holder:
        thread.join(5)
        raise RuntimeError(f"the scripted server did not start: {holder.get('error')!r}")
    try:
        yield holder["server"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(30)


async def _read_stream(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], index: int, *, to_end: bool
) -> tuple[float, float]:
    """Seconds to the chunk at index and (to_end) to the stream's end, read by a plain client."""
    start = time.perf_counter()
    at = end = 0.0
    seen = 0
    async with session.post(url, json=body) as response:
        async for raw in response.content:
            line = raw.strip()
            if not line.startswith(b"data: "):
                continue
            now = time.perf_counter() - start
            if line == b"data: [DONE]":
                end = now
                break
            if seen == index:
                at = now
                if not to_end:
                    break
            seen += 1
    return at, end


async def bare_floors(
    url: str, floors_: Floors, reads: int, recall_s: float
) -> dict[Mode, dict[str, float]]:
    """Each figure's floor as a plain HTTP client meets it: the server's own pacing included.

    Recall is not read, it is the scripted journal's fixed time, counted as the floors count it.
    """
    sim_at: dict[Mode, list[float]] = {mode: [] for mode in MODES}
    first: list[float] = []
    end: list[float] = []
    sim_body = {"model": TWIN, "prompt": "bench", "stream": True, "max_tokens": 160}
    rewrite_body = {"model": "rewriter", "messages": [], "stream": True, "max_tokens": 120}
    async with aiohttp.ClientSession() as session:
        for _ in range(reads + 1):
            for mode in MODES:
                index = floors_.sim_tokens[mode] - 1
                at, _ = await _read_stream(
                    session, f"{url}/completions", sim_body, index, to_end=False
                )
                sim_at[mode].append(at)
            index = floors_.first_chunk_tokens - 1
            at, done = await _read_stream(
                session, f"{url}/chat/completions", rewrite_body, index, to_end=True
            )
            first.append(at)
            end.append(done)
    # the first round opened the connections: left out, as the turns' warm-up is
    first_p50, end_p50 = statistics.median(first[1:]), statistics.median(end[1:])
    out: dict[Mode, dict[str, float]] = {}
    for mode in MODES:
        simulated = statistics.median(sim_at[mode][1:])
        if mode == "pipelined":
            simulated = max(simulated, recall_s)
        else:
            simulated += recall_s
        out[mode] = {
            "first audio": simulated + (first_p50 if mode == "pipelined" else end_p50),
            "chat post": simulated + end_p50,
            "total": simulated + end_p50,
        }
    return out


async def run_scripted(
    turns: int, speeds: Speeds = Speeds(), *, tier: Tier = Tier.PUBLIC
) -> ScriptedReport:
    """Both modes over `turns` turns each against the scripted server at these speeds.

    tier: the recalled note's; the journal's untagged entries are private.
    """
    floors_ = floors(speeds, private=tier is not Tier.PUBLIC)
    journal = TimedJournal(seconds=speeds.recall_s, tier=tier)
    with serve_on_thread(speeds) as server:
        async with (
            OpenAISimulator(
                url=server.url, model=TWIN, max_twin_lines=MAX_TWIN_LINES, deadlines=DEADLINES
            ) as simulator,
            OpenAIRewriter(url=server.url, model="rewriter", deadlines=DEADLINES) as rewriter,
        ):
            modes = await time_modes(
                lambda _: contextlib.nullcontext(simulator), rewriter, turns, journal
            )
        requests = len(server.requests)
        bare = await bare_floors(server.url, floors_, min(turns, BARE_READS), speeds.recall_s)
    return ScriptedReport(speeds=speeds, floors=floors_, modes=modes, bare=bare, requests=requests)


@contextlib.contextmanager
def vllm_server() -> Iterator[tuple[str, str]]:
    """A real CPU vLLM serving the tiny Llama and its twin LoRA: (base URL, base model name).

    Started as tests/integration/conftest.py starts its session fixture, with the same helpers.
    """
    from tests.support.tiny_model import ensure_tiny_model, serve_options  # noqa: PLC0415
    from tests.support.vllm import running  # noqa: PLC0415

    model = ensure_tiny_model()
    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp:
        started = time.monotonic()
        with running(serve_options(model), Path(tmp) / "vllm.log") as root:
            print(f"vLLM ready after {time.monotonic() - started:.0f} s", flush=True)
            yield f"{root}/v1", str(model.base)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """Where the real models are: the twin (simulator) and the rewriter, each a URL and a name."""

    simulator_url: str
    simulator_model: str
    rewriter_url: str
    rewriter_model: str


@contextlib.contextmanager
def smollm2_server() -> Iterator[Endpoints]:
    """SmolLM2-135M-Instruct on the CPU vLLM, its twin LoRA (trained once, cached) simulating."""
    from tests.support.smollm2 import (  # noqa: PLC0415
        TWIN as SMOL_TWIN,
    )
    from tests.support.smollm2 import (  # noqa: PLC0415
        ensure_smollm2,
        ensure_twin_lora,
        serve_options,
    )
    from tests.support.vllm import running  # noqa: PLC0415

    base = ensure_smollm2()
    lora = ensure_twin_lora(base)
    with tempfile.TemporaryDirectory(prefix="bench-smollm2-") as tmp:
        started = time.monotonic()
        with running(serve_options(base, lora.adapter), Path(tmp) / "vllm.log") as root:
            print(f"vLLM (SmolLM2) ready after {time.monotonic() - started:.0f} s", flush=True)
            url = f"{root}/v1"
            yield Endpoints(
                simulator_url=url,
                simulator_model=SMOL_TWIN,
                rewriter_url=url,
                rewriter_model=str(base),
            )


@contextlib.contextmanager
def tiny_endpoints() -> Iterator[Endpoints]:
    """The tiny Llama: its `twin` LoRA simulates, its base model rewrites."""
    with vllm_server() as (url, base):
        yield Endpoints(
            simulator_url=url, simulator_model=TWIN, rewriter_url=url, rewriter_model=base
        )


async def run_vllm(turns: int, endpoints: Endpoints | None = None) -> dict[Mode, ModeFigures]:
    """Both modes against real models: the given servers, or the tiny Llama on a CPU vLLM.

    The tiny model's text is random, so each pair of turns shares one sampling seed and the
    rewriter samples greedily: both modes then see the same simulation, up to where the
    pipelined turn stops it, and differ only in what the pipeline does with it.
    """
    with contextlib.ExitStack() as stack:
        where = endpoints or stack.enter_context(tiny_endpoints())

        def seeded(i: int) -> OpenAISimulator:
            return OpenAISimulator(
                url=where.simulator_url,
                model=where.simulator_model,
                max_twin_lines=MAX_TWIN_LINES,
                deadlines=DEADLINES,
                seed=VLLM_SEED + i,
            )

        async with OpenAIRewriter(
            url=where.rewriter_url,
            model=where.rewriter_model,
            deadlines=DEADLINES,
            max_tokens=VLLM_REPLY_TOKENS,
            temperature=0.0,
        ) as rewriter:
            journal = TimedJournal(seconds=Speeds().recall_s)
            return await time_modes(seeded, rewriter, turns, journal)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def print_modes(modes: dict[Mode, ModeFigures], report: ScriptedReport | None) -> None:
    """A table of p50/p90 per figure and mode, with floors and overheads when known."""
    header = f"  {'figure':<12} {'mode':<11} {'p50 ms':>7} {'p90 ms':>7} {'n':>3}"
    if report is not None:
        header += f" {'floor ms':>9} {'overhead ms':>12} {'bare ms':>8} {'over bare ms':>13}"
    print(header)
    for figure in FIGURES:
        for mode in MODES:
            stat = modes[mode].stats.get(figure)
            if stat is None:
                print(f"  {figure:<12} {mode:<11} {'-':>7} {'-':>7} {0:>3}")
                continue
            row = f"  {figure:<12} {mode:<11} {_ms(stat.p50):>7} {_ms(stat.p90):>7} {stat.n:>3}"
            if report is not None:
                floor = report.floors.by_mode[mode][figure]
                bare = report.bare[mode][figure]
                row += f" {_ms(floor):>9} {_ms(stat.p50 - floor):>12}"
                row += f" {_ms(bare):>8} {_ms(stat.p50 - bare):>13}"
            print(row)
    for mode in MODES:
        print(f"  outcomes {mode}: {modes[mode].outcomes}")
        for reason, count in modes[mode].reasons.items():
            print(f"    {count} x {reason}")


def ratio(modes: dict[Mode, ModeFigures], figure: str) -> float | None:
    """Pipelined p50 over sequential p50 for one figure."""
    piped = modes["pipelined"].stats.get(figure)
    seq = modes["sequential"].stats.get(figure)
    if piped is None or seq is None or seq.p50 <= 0:
        return None
    return piped.p50 / seq.p50


def key_figures(
    report: ScriptedReport,
    vllm: dict[Mode, ModeFigures] | None,
    local: ScriptedReport | None = None,
    private: ScriptedReport | None = None,
) -> dict[str, str]:
    """The one-line summary: name -> value."""
    out: dict[str, str] = {}
    modes, floors_ = report.modes, report.floors
    for short, figure in (("ttfa", "first audio"), ("post", "chat post"), ("total", "total")):
        for mode in MODES:
            stat = modes[mode].stats.get(figure)
            out[f"{short}_{mode}_p50_ms"] = _ms(stat.p50) if stat else "none"
            if short == "ttfa":
                out[f"{short}_{mode}_p90_ms"] = _ms(stat.p90) if stat else "none"
    r = ratio(modes, "first audio")
    out["ttfa_ratio"] = f"{r:.2f}" if r is not None else "none"
    for short, figure in (("", "first audio"), ("_post", "chat post")):
        stat = modes["pipelined"].stats.get(figure)
        floor = floors_.by_mode["pipelined"][figure]
        out[f"overhead{short}_p50_ms"] = _ms(stat.p50 - floor) if stat else "none"
    stat = modes["pipelined"].stats.get("first audio")
    bare = report.bare["pipelined"]["first audio"]
    out["overhead_over_bare_p50_ms"] = _ms(stat.p50 - bare) if stat else "none"
    out["server_slack_ms"] = _ms(bare - floors_.by_mode["pipelined"]["first audio"])
    seq = modes["sequential"].stats.get("first audio")
    floor = floors_.by_mode["sequential"]["first audio"]
    out["overhead_sequential_p50_ms"] = _ms(seq.p50 - floor) if seq else "none"
    out["ttfa_floor_ratio"] = f"{floors_.first_audio_ratio:.2f}"
    no_lookahead = floors(report.speeds, lookahead=0)
    out["ttfa_floor_ratio_no_lookahead"] = f"{no_lookahead.first_audio_ratio:.2f}"
    out["rewriter_ttft_breakeven_ms"] = _ms(breakeven_rewriter_ttft(report.speeds))
    if private is not None:
        stat = private.modes["pipelined"].stats.get("first audio")
        out["ttfa_pipelined_private_p50_ms"] = _ms(stat.p50) if stat else "none"
        r = ratio(private.modes, "first audio")
        out["ttfa_ratio_private_note"] = f"{r:.2f}" if r is not None else "none"
    if local is not None:
        r = ratio(local.modes, "first audio")
        out["ttfa_ratio_local_rewriter"] = f"{r:.2f}" if r is not None else "none"
        out["ttfa_floor_ratio_local_rewriter"] = f"{local.floors.first_audio_ratio:.2f}"
    if vllm is not None:
        for mode in MODES:
            stat = vllm[mode].stats.get("first audio")
            out[f"vllm_ttfa_{mode}_p50_ms"] = _ms(stat.p50) if stat else "none"
        stat = vllm["pipelined"].stats.get("chat post")
        out["vllm_post_pipelined_p50_ms"] = _ms(stat.p50) if stat else "none"
        r = ratio(vllm, "first audio")
        out["vllm_ttfa_ratio"] = f"{r:.2f}" if r is not None else "none"
    return out


def print_scripted(report: ScriptedReport, turns: int) -> None:
    """The scripted run's setup, table, floors and targets."""
    s, f = report.speeds, report.floors
    print(
        f"scripted server: simulator {_ms(s.sim_ttft_s)} ms to first token, {s.sim_tps:.0f} "
        f"tokens/s; rewriter {_ms(s.rewrite_ttft_s)} ms to first token, {s.rewrite_tps:.0f} "
        f"tokens/s; the journal recalls one public note in {_ms(s.recall_s)} ms"
    )
    print(
        f"  texts: simulation {len(tokens_of(SIMULATION))} tokens in {len(SIM_LINES)} lines "
        f"(pipelined fuses after {f.sim_tokens['pipelined']} tokens: the twin's line and "
        f"{LOOKAHEAD_LINES} look-ahead; sequential after {f.sim_tokens['sequential']}: "
        f"{MAX_SIM_LINES} lines or {MAX_TWIN_LINES} twin lines); reply {f.reply_tokens} tokens, "
        f"its first spoken chunk (a sentence, or a clause of {FIRST_CHUNK_WORDS}+ words) known at "
        f"token {f.first_chunk_tokens}"
    )
    print(
        f"  {turns} turns a mode, alternating, after a warm-up turn each; the speaker stamps "
        f"say() and returns at once; {report.requests} requests served"
    )
    print(
        "  floor: the scripted TTFT + token gaps up to the token that triggers the figure; "
        "bare: the same tokens read by a plain aiohttp client (p50), the server's pacing slack "
        "included; overhead: measured p50 - floor; over bare: measured p50 - bare"
    )
    print_modes(report.modes, report)
    print(
        "  sequential speaks only once the whole reply is there (the seed's pipeline); pipelined "
        "fuses at the twin's first line plus the look-ahead and speaks the first clause or "
        "sentence, then each finished sentence"
    )
    print_floor_parts(report)
    r = ratio(report.modes, "first audio")
    piped = report.modes["pipelined"].stats.get("first audio")
    if r is not None and piped is not None:
        overhead = piped.p50 - f.by_mode["pipelined"]["first audio"]
        print(
            f"  time to first audio, pipelined/sequential: {r:.2f} (target <= 0.5: "
            f"{'met' if r <= 0.5 else 'missed'}; floors alone give "
            f"{f.first_audio_ratio:.2f})"
        )
        over_bare = piped.p50 - report.bare["pipelined"]["first audio"]
        print(
            f"  cohost overhead p50, pipelined first audio: {_ms(overhead)} ms over the floor "
            f"(target <= 50 ms: {'met' if overhead <= 0.050 else 'missed'}), {_ms(over_bare)} ms "
            "over a plain client reading the same streams"
        )


def print_floor_parts(report: ScriptedReport) -> None:
    """Where the time to first audio goes at the floors, and what the target leaves."""
    s, f = report.speeds, report.floors
    print("  where the time to first audio goes, at the floors (ms):")
    rows = [*zip(f.parts["pipelined"], f.parts["sequential"], strict=True)]
    rows.append(
        (
            ("pipelined", f.by_mode["pipelined"]["first audio"]),
            ("sequential", f.by_mode["sequential"]["first audio"]),
        )
    )
    for (piped, piped_s), (seq, seq_s) in rows:
        print(f"    {piped:<46} {_ms(piped_s):>5}   {seq:<46} {_ms(seq_s):>5}")
    sentences_only = floors(s, first_chunk_words=None)
    no_lookahead = floors(s, lookahead=0)
    print(
        f"  floor ratio {f.first_audio_ratio:.2f} (with whole sentences only: "
        f"{sentences_only.first_audio_ratio:.2f}; with no look-ahead line: "
        f"{no_lookahead.first_audio_ratio:.2f})"
    )
    for lookahead in sorted({LOOKAHEAD_LINES, 0}, reverse=True):
        budget = first_chunk_budget(s, lookahead=lookahead)
        print(
            f"  the <= {TARGET_RATIO} target leaves the first chunk {_ms(budget)} ms "
            f"({budget * s.rewrite_tps:.1f} tokens after the rewriter's first) with "
            f"{lookahead} look-ahead line(s)"
        )
    print(
        f"  the floors meet the target while the rewriter's first token comes within "
        f"{_ms(breakeven_rewriter_ttft(s))} ms (it is {_ms(s.rewrite_ttft_s)} ms here): it adds "
        "to both modes, and no pipeline can start the rewriter before the twin's line exists"
    )


def print_variant(report: ScriptedReport, title: str) -> None:
    """A run that differs from the first in one thing, which the title says."""
    print(f"\nscripted server, {title}")
    print_modes(report.modes, report)
    r = ratio(report.modes, "first audio")
    if r is not None:
        print(
            f"  time to first audio, pipelined/sequential: {r:.2f} (target <= {TARGET_RATIO}: "
            f"{'met' if r <= TARGET_RATIO else 'missed'}; floors alone give "
            f"{report.floors.first_audio_ratio:.2f})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 turns a mode, scripted only")
    parser.add_argument("--turns", type=int, help="turns per mode (default 5 quick, 30 full)")
    parser.add_argument("--simulator-url", help="a real twin server's OpenAI base URL")
    parser.add_argument("--simulator-model", default="twin", help="its served twin (default twin)")
    parser.add_argument("--rewriter-url", help="a real rewriter's OpenAI base URL")
    parser.add_argument("--rewriter-model", default="", help="its served model name")
    parser.add_argument(
        "--smollm2",
        action="store_true",
        help="the real pair on the CPU vLLM: SmolLM2-135M-Instruct rewrites, its twin LoRA "
        "(trained once on a shared log and cached) simulates",
    )
    args = parser.parse_args(argv)
    if bool(args.simulator_url) != bool(args.rewriter_url):
        parser.error("--simulator-url and --rewriter-url go together")
    if args.rewriter_url and not args.rewriter_model:
        parser.error("--rewriter-url needs --rewriter-model")
    endpoints = (
        Endpoints(
            simulator_url=args.simulator_url,
            simulator_model=args.simulator_model,
            rewriter_url=args.rewriter_url,
            rewriter_model=args.rewriter_model,
        )
        if args.simulator_url
        else None
    )
    turns = args.turns or (5 if args.quick else 30)
    report = asyncio.run(run_scripted(turns))
    print_scripted(report, turns)
    # each variant changes one thing; in quick mode fewer turns keep the whole under a minute
    variant_turns = 3 if args.quick and not args.turns else turns
    private = asyncio.run(run_scripted(variant_turns, tier=Tier.PRIVATE))
    print_variant(
        private,
        "a private note recalled (the journal's untagged entries are private): speech keeps "
        f"{PRODUCT.privacy_run_words - 1} words behind the stream, so that any run of the "
        "privacy rule through a chunk shows before it is said",
    )
    local = asyncio.run(run_scripted(variant_turns, LOCAL_REWRITER))
    print_variant(
        local,
        f"a local rewriter: the same speeds but the rewriter's first token after "
        f"{_ms(LOCAL_REWRITER.rewrite_ttft_s)} ms (as a vLLM beside the LoRA would answer)",
    )
    vllm: dict[Mode, ModeFigures] | None = None
    if endpoints is not None or args.smollm2:
        with contextlib.ExitStack() as stack:
            where = endpoints or stack.enter_context(smollm2_server())
            print(
                f"\nreal models: {where.simulator_model} at {where.simulator_url} simulates, "
                f"{where.rewriter_model} at {where.rewriter_url} rewrites (measured only)",
                flush=True,
            )
            vllm = asyncio.run(run_vllm(turns, where))
        print_modes(vllm, None)
    elif not args.quick:
        from tests.support.vllm import VLLM_READY  # noqa: PLC0415

        if VLLM_READY.is_file():
            print(
                "\nreal CPU vLLM: the tiny Llama's twin LoRA simulates, the base model rewrites "
                "(measured only: its speeds vary, so no floor). Its text is random, so each pair "
                "of turns shares a sampling seed, the rewriter is greedy, and both modes cap "
                f"replies at the scripted reply's {VLLM_REPLY_TOKENS} tokens: where a random "
                "text happens to end must not decide the comparison",
                flush=True,
            )
            vllm = asyncio.run(run_vllm(turns))
            print_modes(vllm, None)
        else:
            print("\nreal CPU vLLM skipped: .vllm-venv is absent (scripts/setup-vllm builds it)")
    print()
    line = key_figures(report, vllm, local, private)
    print(" ".join(f"{k}={v}" for k, v in line.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
