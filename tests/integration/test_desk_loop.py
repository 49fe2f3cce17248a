"""The desk's loop with the real small model: 20 choices made at the twin's desk, then
`cohost dataset dpo`, `cohost train dpo`, the adapter loaded into the running vLLM, and the
chosen replies likelier against the rejected ones than under the model before the training."""

from __future__ import annotations

import asyncio
import json
import statistics
import urllib.request
from pathlib import Path

import openai
import pytest

from cohost.cli.main import main
from cohost.dataset.desk import Candidate, DeskStore
from cohost.text.render import clean_text
from tests.integration.conftest import RealTwin
from tests.integration.test_real_twin import line_nll
from tests.support.smollm2 import TWIN, TWIN_LOGIN
from tests.train import PEFT_DEPRECATION

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(PEFT_DEPRECATION)]

CHOICES = 20
WINDOW = 6  # messages of context before each of the streamer's lines
SERVED_AS = "desk-dpo"
# What an assistant-tuned base model says in a chat it does not belong to: the streamer, shown
# these beside their own line, picks their own every time.
ASSISTANT = (
    "As an AI language model, I do not have personal opinions about this topic.",
    "Thank you for your question! Here is a detailed explanation of the subject.",
    "I'm sorry, but I cannot help with that request. Please ask something else.",
    "Great question! There are several factors to consider in this situation.",
)


def make_choices(twin: RealTwin, store: DeskStore) -> None:
    """The streamer at the desk: each prompt a window of the real log, two candidates (their
    own line, and an assistant's), the first picked with a key press."""
    messages = twin.lora.earlier
    made = 0
    for i in range(WINDOW, len(messages)):
        line = messages[i]
        if line.login != TWIN_LOGIN or len(clean_text(line.text).split()) < 3:
            continue
        window = messages[i - WINDOW : i]
        candidates = [
            Candidate(text=line.text, model="twin"),
            Candidate(text=ASSISTANT[made % len(ASSISTANT)], model="base"),
        ]
        store.pick(window, candidates, 0, source="log")
        made += 1
        if made == CHOICES:
            return
    raise AssertionError(f"the log has only {made} lines of the streamer to choose from")


def post(root: str, path: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"{root}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return int(response.status)


async def margin(client: openai.AsyncOpenAI, model: str, pair: dict[str, str]) -> float:
    """log p(chosen | prompt) - log p(rejected | prompt) under `model`, served by vLLM."""
    chosen = await line_nll(client, model, pair["prompt"], pair["chosen"])
    rejected = await line_nll(client, model, pair["prompt"], pair["rejected"])
    return sum(rejected) - sum(chosen)


async def test_choices_at_the_desk_train_an_adapter_that_prefers_them(
    real_twin: RealTwin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("COHOST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COHOST_TWIN__NAME", TWIN)
    base = Path(real_twin.base_model)
    make_choices(real_twin, DeskStore(data_dir / "desk", TWIN, twin_logins=[TWIN_LOGIN]))

    pairs_file = tmp_path / "pairs.jsonl"  # the loop's own step: the desk's pairs, no feedback
    assert main(["dataset", "dpo", "--out", str(pairs_file)]) == 0
    pairs = [json.loads(line) for line in pairs_file.read_text().splitlines()]
    assert len(pairs) == CHOICES
    assert all(p["prompt"].endswith(f"\n{TWIN}:") for p in pairs)

    adapter = tmp_path / "adapter"
    args = [
        *["train", "dpo", "--data", str(pairs_file), "--base", str(base), "--out", str(adapter)],
        *["--rank", "8", "--alpha", "16", "--max-steps", "5", "--batch-size", "4"],
        *["--grad-accum", "1", "--lr", "2e-3", "--max-len", "160", "--no-progress"],
    ]
    assert await asyncio.to_thread(main, args) == 0

    load = {"lora_name": SERVED_AS, "lora_path": str(adapter)}
    root = real_twin.url.removesuffix("/v1")
    assert await asyncio.to_thread(post, root, "/v1/load_lora_adapter", load) == 200
    try:
        async with openai.AsyncOpenAI(base_url=real_twin.url, api_key="none", max_retries=0) as c:
            before = [await margin(c, real_twin.base_model, p) for p in pairs]
            after = [await margin(c, SERVED_AS, p) for p in pairs]
    finally:
        await asyncio.to_thread(post, root, "/v1/unload_lora_adapter", {"lora_name": SERVED_AS})
    rose = sum(a > b for a, b in zip(after, before, strict=True))
    print(  # shown with -s
        f"log-probability margin chosen - rejected over {len(pairs)} desk pairs: "
        f"base {statistics.mean(before):.2f}, after DPO {statistics.mean(after):.2f}, "
        f"rose on {rose}/{len(pairs)}"
    )
    assert statistics.mean(after) > statistics.mean(before) + 1.0
    assert rose >= 0.8 * len(pairs)
