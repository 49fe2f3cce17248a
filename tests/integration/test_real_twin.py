"""The seed's loop with a real language model, on the CPU: a shared chat log, `dataset build`,
`train lora` on SmolLM2-135M-Instruct, vLLM serving it, and a replay with that LoRA as the twin.

Measured, not assumed: the LoRA must make the twin's held-out lines clearly more likely than the
base model does, and every reply that reaches chat or the voice must read as one chat message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import openai
import pytest

from cohost.app.replay import replay
from cohost.app.settings import load_settings
from cohost.text.render import clean_text, render_prompt
from tests.integration.conftest import RealTwin
from tests.support.chat_checks import reads_as_chat
from tests.support.smollm2 import TWIN, TWIN_LOGIN, write_log

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

WINDOW = 8  # messages of context before each held-out line
HELDOUT_LINES = 40  # held-out lines of the twin measured (the first ones of the held-out part)
REPLAY_MESSAGES = 200  # of the held-out part: about a dozen questions and mentions


def heldout_cases(twin: RealTwin) -> list[tuple[str, str]]:
    """(prompt, the twin's line as the model writes it) for the first held-out lines."""
    every = [*twin.lora.earlier, *twin.lora.heldout]
    start = len(twin.lora.earlier)
    cases = []
    for i in range(start, len(every)):
        message = every[i]
        text = clean_text(message.text)
        if message.login != TWIN_LOGIN or not text:
            continue
        window = every[max(0, i - WINDOW) : i]
        prompt = render_prompt(window, TWIN, twin_logins=[TWIN_LOGIN])
        cases.append((prompt, f" {text}\n"))
        if len(cases) == HELDOUT_LINES:
            break
    return cases


async def line_nll(client: openai.AsyncOpenAI, model: str, prompt: str, line: str) -> list[float]:
    """The negative log-likelihood of each token of `line` after `prompt` (vLLM's echo)."""
    result = await client.completions.create(
        model=model, prompt=prompt + line, max_tokens=1, temperature=0.0, echo=True, logprobs=0
    )
    logprobs = result.choices[0].logprobs
    assert logprobs is not None and logprobs.text_offset and logprobs.token_logprobs
    return [
        -float(lp)
        for offset, lp in zip(logprobs.text_offset, logprobs.token_logprobs, strict=False)
        if offset >= len(prompt) and lp is not None
    ][: -1 or None]  # the last is the generated token, not the line's


async def test_the_lora_makes_the_twins_heldout_lines_likelier(real_twin: RealTwin) -> None:
    cases = heldout_cases(real_twin)
    assert len(cases) >= 20, "too few held-out lines of the twin to measure"
    nll: dict[str, list[float]] = {"base": [], "lora": []}
    better = 0
    async with openai.AsyncOpenAI(base_url=real_twin.url, api_key="none", max_retries=0) as c:
        for prompt, line in cases:
            base = await line_nll(c, real_twin.base_model, prompt, line)
            lora = await line_nll(c, real_twin.lora_model, prompt, line)
            assert len(base) == len(lora) > 0
            nll["base"] += base
            nll["lora"] += lora
            better += sum(lora) < sum(base)
    base_nll = sum(nll["base"]) / len(nll["base"])
    lora_nll = sum(nll["lora"]) / len(nll["lora"])
    print(  # shown with -s; the figures of the note come from bench/fidelity.py
        f"held-out per-token NLL: base {base_nll:.2f} (ppl {math.exp(base_nll):.0f}), "
        f"lora {lora_nll:.2f} (ppl {math.exp(lora_nll):.0f}), lora better on {better}/{len(cases)}"
    )
    assert lora_nll < base_nll - 0.3, (base_nll, lora_nll)
    assert better > len(cases) * 0.6


async def test_a_replay_with_the_real_twin_says_only_chat(
    real_twin: RealTwin, tmp_path: Path
) -> None:
    log = tmp_path / "heldout.txt"
    write_log(real_twin.lora.heldout[:REPLAY_MESSAGES], log)
    settings = load_settings(
        data_dir=tmp_path / "data",
        twin={"name": TWIN, "streamer": TWIN_LOGIN, "aliases": ["elena", TWIN_LOGIN]},
        # the chat seldom names the twin: a question is enough to be answered here
        picker={"threshold": 0.6},
        simulator={
            "url": real_twin.url,
            "model": real_twin.lora_model,
            # a CPU on a busy CI machine: slow, but a dead server still fails the turn quickly
            "first_token_timeout_s": 30.0,
            "stall_timeout_s": 10.0,
            "time_cap_s": 20.0,
            "eos_token_id": 2,
        },
        rewriter={
            "url": real_twin.url,
            "model": real_twin.base_model,
            "first_token_timeout_s": 30.0,
            "stall_timeout_s": 10.0,
            "time_cap_s": 30.0,
        },
    )
    result = await replay(log, tmp_path / "out", settings, progress=False)
    traces = [json.loads(line) for line in result.traces.read_text().splitlines()]
    assert traces, "nothing was picked"
    speakers = {TWIN, TWIN_LOGIN} | {m.login for m in real_twin.lora.heldout}
    bad = [
        (text, why)
        for trace in traces
        for text in (*trace.get("sent", []), *trace.get("spoken", []))
        if (why := reads_as_chat(text, [s.casefold() for s in speakers]))
    ]
    answered = [t for t in traces if t.get("sent")]
    print(f"{len(traces)} turns, {len(answered)} answered; replies:")
    for trace in answered:
        print("  ", trace["sent"])
    assert not bad, bad
    assert answered, [t.get("reason") for t in traces]


def test_the_checks_catch_what_real_models_wrote() -> None:  # fast, beside the slow ones
    speakers = ["twin", "mossbyte", "ana"]
    assert reads_as_chat("## Recent chat ```text", speakers) == "prompt structure"
    assert reads_as_chat("mossbyte: lol yeah", speakers) == "speaker label"
    assert reads_as_chat("I'm sorry, I'm sorry, I'm sorry, I'm sorry", speakers)
    assert reads_as_chat("PSA: the raid is at 10:30, see you there", speakers) == ""
    assert reads_as_chat("that boss took us three tries lol", speakers) == ""
