"""The seed's whole loop on the CPU: a chat log, `cohost dataset build`, `cohost train lora`,
the adapter loaded into a running vLLM, and the twin's lines back through OpenAISimulator."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import openai
import pytest

import cohost
from cohost.adapters.openai_models import Deadlines, OpenAISimulator
from cohost.cli.main import main
from cohost.core.events import ChatMessage
from cohost.core.ports import SimRequest
from cohost.text.render import render_prompt
from tests.integration.conftest import VllmServer
from tests.support.tiny_model import ensure_tiny_model
from tests.train import PEFT_DEPRECATION, require_train_extra

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(PEFT_DEPRECATION)]

DEMO_LOG = Path(cohost.__file__).parent / "data" / "demo" / "chat.txt"
ADAPTER_NAME = "freshly-trained"
DEADLINES = Deadlines(first_token_s=30.0, stall_s=30.0, cap_s=120.0)  # a busy CI machine
WINDOW = [
    ChatMessage(id="1", channel="c", login="ana", display_name="ana", text="hi all", ts=0.0),
    ChatMessage(
        id="2", channel="c", login="bo", display_name="bo", text="what game is this", ts=0.0
    ),
]


def build_and_train(work: Path, base: Path) -> Path:
    """`cohost dataset build` on the demo log, then a few steps of `cohost train lora`."""
    data = work / "train.jsonl"
    assert main(["dataset", "build", str(DEMO_LOG), "--twin", "mossbyte", "--out", str(data)]) == 0
    texts = [json.loads(line)["text"] for line in data.read_text().splitlines()]
    assert texts and all("\ntwin: " in t for t in texts)  # the streamer's lines, as the twin
    adapter = work / "adapter"
    code = main(
        [
            *["train", "lora", "--data", str(data), "--base", str(base), "--out", str(adapter)],
            *["--rank", "8", "--alpha", "16", "--max-steps", "4", "--batch-size", "2"],
            *["--grad-accum", "1", "--lr", "5e-3", "--max-len", "256", "--no-progress"],
        ]
    )
    assert code == 0
    return adapter


def post(server: VllmServer, path: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"{server.root}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return int(response.status)


async def first_token_logprobs(server: VllmServer, model: str) -> dict[str, float]:
    async with openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0) as c:
        result = await c.completions.create(
            model=model,
            prompt=render_prompt(WINDOW, "twin"),
            max_tokens=1,
            temperature=0.0,
            logprobs=5,
        )
    logprobs = result.choices[0].logprobs
    assert logprobs is not None and logprobs.top_logprobs
    return dict(logprobs.top_logprobs[0])


async def test_a_chat_log_becomes_a_served_twin(vllm_server: VllmServer, tmp_path: Path) -> None:
    require_train_extra()
    base = ensure_tiny_model().base  # the model the server runs
    adapter = await asyncio.to_thread(build_and_train, tmp_path, base)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base.resolve())

    load = {"lora_name": ADAPTER_NAME, "lora_path": str(adapter)}
    assert await asyncio.to_thread(post, vllm_server, "/v1/load_lora_adapter", load) == 200
    try:
        # Served, and not a no-op: the next-token distribution differs from the base model's.
        trained = await first_token_logprobs(vllm_server, ADAPTER_NAME)
        plain = await first_token_logprobs(vllm_server, vllm_server.base_model)
        assert trained != plain

        async with OpenAISimulator(
            url=vllm_server.url,
            model=ADAPTER_NAME,
            server_kind="vllm",
            eos_token_id=vllm_server.eos_token_id,
            temperature=0.0,
            max_tokens=120,
            max_twin_lines=2,
            deadlines=DEADLINES,
        ) as simulator:
            request = SimRequest(window=WINDOW, twin="twin", max_lines=6)
            lines = [line async for line in simulator.stream(request)]
        assert lines
        assert lines[0].is_twin
        assert all(line.text.strip() for line in lines)
    finally:
        unload = {"lora_name": ADAPTER_NAME}
        await asyncio.to_thread(post, vllm_server, "/v1/unload_lora_adapter", unload)
