"""How much latency the model adapters add, and what streaming fusion saves, on a scripted server.

    .venv/bin/python -m bench.turn_latency [--ttft 0.3] [--tps 40] [--runs 5]

The scripted server plays a twin model and a rewriter with a given time to first token and
tokens per second. Printed: the simulator's time to its first twin line against the script's
own floor (ratio 1.0 = no overhead), and the time to the first reply token when fusion starts on
the first twin line (as the turn does) against waiting for the whole simulation.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import aclosing

from cohost.adapters.openai_models import Deadlines, OpenAIRewriter, OpenAISimulator
from cohost.events import ChatMessage, SimLine
from cohost.ports import FusionRequest, SimRequest
from tests.support.scripted_server import Script, ScriptedServer, chat_text, tokens_of

DEADLINES = Deadlines(first_token_s=30.0, stall_s=30.0, cap_s=120.0)
ASKED = ChatMessage(id="1", channel="c", login="ana", display_name="ana", text="hi twin", ts=0.0)
SIMULATION = chat_text(
    [
        ("twin", "hey ana, good to see you"),
        ("ana", "what are we playing"),
        ("twin", "the long route again, sorry chat"),
        ("bo", "lol"),
    ]
)


async def one_run(url: str, *, early: bool) -> tuple[float, float]:
    """Seconds to the first twin line, and to the first reply token."""
    sim = OpenAISimulator(url=url, model="twin", max_twin_lines=2, deadlines=DEADLINES)
    rewriter = OpenAIRewriter(url=url, model="rewriter", deadlines=DEADLINES)
    start = time.perf_counter()
    first_line = 0.0
    lines: list[SimLine] = []
    async with sim, rewriter:
        request = SimRequest(window=[ASKED], twin="twin", max_lines=8)
        async with aclosing(sim.stream(request)) as stream:
            async for line in stream:
                lines.append(line)
                if line.is_twin and not first_line:
                    first_line = time.perf_counter() - start
                    if early:
                        break  # the turn fuses on the first twin line
        fusion = FusionRequest(twin="twin", message=ASKED, window=[ASKED], hits=[], sim_lines=lines)
        async with aclosing(rewriter.stream(fusion)) as pieces:
            await anext(pieces)
        return first_line, time.perf_counter() - start


async def main(ttft: float, tps: float, runs: int) -> None:
    def script(body: dict[str, object]) -> Script:
        if "messages" in body:
            return Script(
                text="hey ana, the long route", first_token_delay=ttft, tokens_per_second=tps
            )
        return Script(text=SIMULATION, first_token_delay=ttft, tokens_per_second=tps)

    first_line_tokens = len(tokens_of(SIMULATION.split("\n")[0] + "\n"))
    floor = ttft + (first_line_tokens - 1) / tps
    async with ScriptedServer(script) as srv:
        early = [await one_run(srv.url, early=True) for _ in range(runs)]
        late = [await one_run(srv.url, early=False) for _ in range(runs)]
    first_line = statistics.median(r[0] for r in early)
    reply_early = statistics.median(r[1] for r in early)
    reply_late = statistics.median(r[1] for r in late)
    print(
        f"first twin line: {first_line * 1000:.0f} ms, script floor {floor * 1000:.0f} ms, "
        f"ratio {first_line / floor:.2f}"
    )
    print(
        f"first reply token: {reply_early * 1000:.0f} ms fusing on the first twin line, "
        f"{reply_late * 1000:.0f} ms after the whole simulation, "
        f"ratio {reply_late / reply_early:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft", type=float, default=0.3, help="scripted time to first token (s)")
    parser.add_argument("--tps", type=float, default=40.0, help="scripted tokens per second")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.ttft, args.tps, args.runs))
