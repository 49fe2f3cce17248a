"""The adapters against a real vLLM serving the tiny Llama (base) and its twin LoRA."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing

import openai
import pytest

from cohost.adapters.openai_models import Deadlines, OpenAIRewriter, OpenAISimulator
from cohost.core.errors import ReplyCut
from cohost.core.events import ChatMessage, Hit, Tier
from cohost.core.ports import FusionRequest, SimRequest
from cohost.text.render import render_prompt
from tests.integration.conftest import VllmServer

pytestmark = pytest.mark.slow

DEADLINES = Deadlines(first_token_s=30.0, stall_s=30.0, cap_s=120.0)  # a busy CI machine
ASKED = ChatMessage(
    id="2", channel="c", login="bo", display_name="bo", text="what are we doing today", ts=0.0
)
WINDOW = [
    ChatMessage(
        id="1", channel="c", login="ana", display_name="ana", text="hello everyone", ts=0.0
    ),
    ASKED,
]
PROMPT = render_prompt(WINDOW, "twin")


def client(server: VllmServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)


async def complete(
    server: VllmServer, model: str, max_tokens: int, **kwargs: object
) -> tuple[str, str, int]:
    async with client(server) as c:
        result = await c.completions.create(
            model=model, prompt=PROMPT, max_tokens=max_tokens, temperature=0.0, **kwargs
        )
    choice = result.choices[0]
    assert result.usage is not None
    return choice.text, str(choice.finish_reason), result.usage.completion_tokens


async def test_the_lora_is_routed(vllm_server: VllmServer) -> None:
    base, _, _ = await complete(vllm_server, vllm_server.base_model, 30)
    twin, _, _ = await complete(vllm_server, vllm_server.lora_model, 30)
    assert base.strip() and twin.strip()
    assert base != twin


async def test_eos_banning_runs_to_the_token_cap(vllm_server: VllmServer) -> None:
    # The base model learned to end after a twin line: unbanned, it stops on its own.
    _, finish, used = await complete(vllm_server, vllm_server.base_model, 200)
    assert finish == "stop"
    assert used < 200
    _, finish, used = await complete(
        vllm_server, vllm_server.base_model, 200, extra_body={"ignore_eos": True}
    )
    assert (finish, used) == ("length", 200)
    _, finish, used = await complete(
        vllm_server, vllm_server.base_model, 200, logit_bias={str(vllm_server.eos_token_id): -100}
    )
    assert (finish, used) == ("length", 200)


async def test_completions_stream_token_by_token(vllm_server: VllmServer) -> None:
    async with client(vllm_server) as c:
        stream = await c.completions.create(
            model=vllm_server.lora_model,
            prompt=PROMPT,
            max_tokens=24,
            temperature=0.0,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        pieces = [chunk.choices[0].text async for chunk in stream if chunk.choices]
    assert len([p for p in pieces if p]) >= 12  # about one chunk per token, not one at the end


def simulator(server: VllmServer, **kwargs: object) -> OpenAISimulator:
    return OpenAISimulator(
        url=server.url,
        model=server.lora_model,
        server_kind="vllm",
        temperature=0.0,
        deadlines=DEADLINES,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_simulate_then_fuse(vllm_server: VllmServer) -> None:
    async with simulator(vllm_server, max_tokens=120, max_twin_lines=2) as sim:
        lines = [
            line async for line in sim.stream(SimRequest(window=WINDOW, twin="twin", max_lines=6))
        ]
    assert lines
    assert lines[0].is_twin
    assert all(line.text for line in lines)
    request = FusionRequest(
        twin="twin",
        message=ASKED,
        window=WINDOW,
        hits=[
            Hit(entry_id="a", title="Plans", text="long route today", score=0.9, tier=Tier.PUBLIC)
        ],
        sim_lines=lines,
    )
    rewriter = OpenAIRewriter(
        url=vllm_server.url,
        model=vllm_server.base_model,
        max_tokens=40,
        temperature=0.0,
        deadlines=DEADLINES,
    )
    async with rewriter:
        pieces: list[str] = []
        # a random model seldom ends its reply: the cap does, and the rewriter says so after
        # the last piece (the turn then drops the unfinished end)
        with contextlib.suppress(ReplyCut):
            async for piece in rewriter.stream(request):
                pieces.append(piece)
    assert len(pieces) > 1
    assert "".join(pieces).strip()


def generated(server: VllmServer) -> float:
    """Tokens the server has generated so far, over all requests."""
    return server.metric("vllm:generation_tokens_total")


async def settled(server: VllmServer) -> float:
    """The generated-tokens counter once it stops moving (two reads half a second apart agree).

    vLLM's running-requests gauge lags the streams on a loaded machine, so the counter decides.
    """
    last = generated(server)
    for _ in range(120):
        await asyncio.sleep(0.5)
        now = generated(server)
        if now == last:
            return now
        last = now
    raise AssertionError(f"vLLM kept generating for a minute ({last:.0f} tokens so far)")


# Tokens: over a minute of generation on this CPU even for the tiny model, so a request that is
# not aborted shows; an aborted one stops within seconds, however slowly a loaded machine's API
# process sees the closed stream while the engine runs on.
CAP = 15_000


async def test_closing_the_simulation_aborts_it_on_the_server(vllm_server: VllmServer) -> None:
    before = await settled(vllm_server)  # earlier tests' requests have all ended
    async with simulator(vllm_server, max_tokens=CAP, max_twin_lines=100) as sim:
        request = SimRequest(window=WINDOW, twin="twin", max_lines=100)
        async with aclosing(sim.stream(request)) as lines:
            first = await anext(lines)
            # Closed here, after its first line and far from its cap.
    assert first.is_twin
    after = await settled(vllm_server)  # it stopped: aborted (a request run to its cap fails here)
    assert 0 < after - before < CAP, f"{after - before:.0f} tokens generated"
