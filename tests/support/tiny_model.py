"""A tiny Llama, its tokenizer and a twin LoRA, built locally for the vLLM integration tests.

`ensure_tiny_model()` runs in the test venv: it renders a synthetic chat corpus with cohost's
own renderer and runs tiny_model_build.py under `.vllm-venv/bin/python` (torch, transformers,
peft, tokenizers), which trains, briefly, a base model on it (so it writes `name: text` lines) and a
LoRA on a variant where the twin says other things (so the adapter visibly changes the twin's
lines). No weights are downloaded. The result is cached and rebuilt when this file changes.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cohost.core.events import ChatMessage
from cohost.text.render import render_example
from tests.support.vllm import REPO, VLLM_PYTHON, ServeOptions, server_command

BUILDER = Path(__file__).with_name("tiny_model_build.py")
CACHE = REPO / ".cache" / "tiny-model"
TWIN = "twin"
SEED = 1234

VIEWERS = ("ana", "bo", "cyra", "dex", "eli", "fen")
VIEWER_SAYS = (
    "hello everyone",
    "what game is this",
    "how long have you been streaming",
    "that boss looks hard",
    "nice play",
    "is the twin awake",
    "what are we doing today",
    "can you try the other path",
    "lol that jump",
    "first time here hi",
)
BASE_TWIN_SAYS = (
    "hi there, welcome in",
    "we are playing the long route today",
    "the boss is easy if you wait",
    "thanks for hanging out",
    "good question, no idea yet",
)
LORA_TWIN_SAYS = (
    "yo yo yo chat is wild",
    "pizza break soon friends",
    "my cat runs this channel",
    "big brain moment incoming",
    "that was pure luck honestly",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TinyModel:
    """Where the base model (with its tokenizer) and the twin LoRA lie."""

    base: Path
    lora: Path
    eos_token_id: int


def corpus(twin_says: tuple[str, ...], *, examples: int, seed: int) -> list[str]:
    """Rendered training windows, each ending on a twin line."""
    rng = random.Random(seed)
    texts = []
    for n in range(examples):
        window = []
        for i in range(rng.randint(2, 6)):
            if i % 2 == 1 and rng.random() < 0.5:
                login, text = TWIN, rng.choice(twin_says)
            else:
                login, text = rng.choice(VIEWERS), rng.choice(VIEWER_SAYS)
            window.append(_message(f"{n}-{i}", login, text))
        window.append(_message(f"{n}-end", TWIN, rng.choice(twin_says)))
        texts.append(render_example(window, TWIN))
    return texts


def _message(id_: str, login: str, text: str) -> ChatMessage:
    return ChatMessage(id=id_, channel="tiny", login=login, display_name=login, text=text, ts=0.0)


def _stamp() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes() + BUILDER.read_bytes())
    return digest.hexdigest()[:16]


def ensure_tiny_model(cache: Path = CACHE, python: Path = VLLM_PYTHON) -> TinyModel:
    """The cached tiny model, built first if missing or stale (about half a minute)."""
    model = TinyModel(base=cache / "base", lora=cache / "lora", eos_token_id=2)
    stamp = cache / "stamp"
    if stamp.is_file() and stamp.read_text() == _stamp():
        return model
    cache.mkdir(parents=True, exist_ok=True)
    data = {
        "base": corpus(BASE_TWIN_SAYS, examples=400, seed=SEED),
        "lora": corpus(LORA_TWIN_SAYS, examples=400, seed=SEED + 1),
    }
    (cache / "corpus.json").write_text(json.dumps(data))
    subprocess.run([str(python), str(BUILDER), str(cache)], check=True, timeout=900)
    stamp.write_text(_stamp())
    return model


def serve_options(model: TinyModel) -> ServeOptions:
    """How the tests serve the tiny base model, with its LoRA as `twin`."""
    return ServeOptions(
        model=model.base, loras=[(TWIN, model.lora)], max_lora_rank=8, max_model_len=16384
    )


def vllm_server_command(model: TinyModel, port: int) -> list[str]:
    """The CPU vLLM server serving the tiny base model and its LoRA as `twin` on loopback."""
    return server_command(serve_options(model), port)
