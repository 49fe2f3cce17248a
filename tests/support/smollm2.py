"""The real small model of the tests: SmolLM2-135M-Instruct, and a twin LoRA trained on real chat.

`ensure_smollm2()` converts the model once (`scripts/setup-smollm2`); `ensure_twin_lora()` runs
the seed's loop on a shared chat log, split by time: the first part through `cohost dataset
build` and `cohost train lora`, the rest held out for measuring. Both live outside the checkout
(`COHOST_MODEL_CACHE`, default ~/.cache/cohost/models), so a machine converts and trains once;
the adapter's folder is keyed by the log, the base, the training options, the dataset rules'
defaults and the code that renders and trains, so any change there trains it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cohost.chatlog.log import open_log
from cohost.core.events import ChatMessage
from cohost.core.options import DatasetSettings, PickerSettings
from tests.support.vllm import REPO, ServeOptions

SHARED_DATA = REPO.parent / "shared" / "data"
# The smaller tcd log of ../shared/data and its busiest chatter, who plays the streamer.
LOG = SHARED_DATA / "twitch" / "tcd_text" / "DKDiamantes_0650637968.txt"
TWIN_LOGIN = "elenamanetta"
HOLDOUT = 0.2  # the last fifth of the stream, by time, is never trained on
TWIN = "twin"  # the served name of the adapter; also the name its lines are rendered as

# Bounded for CI on 2 cores (about 4 minutes alone): 40 steps of 4 examples of at most 128
# tokens, cut from the start so that the twin's line, the last, always stays.
TRAIN_ARGS = (
    *("--rank", "8", "--alpha", "16", "--max-steps", "40", "--batch-size", "4"),
    *("--grad-accum", "1", "--lr", "2e-3", "--max-len", "128", "--no-progress"),
)
# What the adapter depends on besides the log, the base and TRAIN_ARGS: the renderer, the
# dataset rules and the trainer.
CODE = (
    "prompts/chat.toml",
    "cohost/text/render.py",
    "cohost/dataset/build.py",
    "cohost/dataset/clean.py",
    "cohost/train/lora.py",
)


def model_cache() -> Path:
    """Where converted models and trained adapters are kept, outside any checkout."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cohost" / "models"
    return Path(os.environ.get("COHOST_MODEL_CACHE", default))


def ensure_smollm2() -> Path:
    """The converted SmolLM2 folder (`scripts/setup-smollm2` converts it the first time)."""
    done = subprocess.run(
        [str(REPO / "scripts" / "setup-smollm2")],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinLora:
    """A trained adapter and the chat it was trained and will be measured on."""

    adapter: Path
    train_log: Path  # the first part of the log, as a log file
    heldout: tuple[ChatMessage, ...]  # every message of the held-out part, in order
    earlier: tuple[ChatMessage, ...]  # every message of the trained part, in order
    train_seconds: float  # 0 when it came from the cache


def split_by_time(
    messages: list[ChatMessage], holdout: float
) -> tuple[list[ChatMessage], list[ChatMessage]]:
    """The messages before and from the point where the last `holdout` of the time span starts."""
    if not messages:
        return [], []
    start, end = messages[0].ts, messages[-1].ts
    cut = end - (end - start) * holdout
    return [m for m in messages if m.ts < cut], [m for m in messages if m.ts >= cut]


def _key(base: Path, log: Path, twin_login: str, holdout: float) -> str:
    digest = hashlib.sha256()
    digest.update(log.read_bytes())
    digest.update((base / ".stamp").read_bytes())
    digest.update(json.dumps([twin_login, holdout, TRAIN_ARGS]).encode())
    # the cleaning rules' defaults (bot-like patterns and the like) shape the training data too
    digest.update(DatasetSettings().model_dump_json().encode())
    digest.update(json.dumps(PickerSettings().known_bots).encode())  # their lines are left out
    for name in CODE:
        digest.update((REPO / name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_twin_lora(
    base: Path, log: Path = LOG, twin_login: str = TWIN_LOGIN, holdout: float = HOLDOUT
) -> TwinLora:
    """The twin's LoRA on the first part of a log, trained here the first time (a few minutes).

    The log's lines are taken as written in time order (true of every format cohost reads
    except JSON, which is rewritten as lines of `time login: text` for training).
    """
    messages = [m for m in open_log(log) if type(m) is ChatMessage]
    earlier, heldout = split_by_time(messages, holdout)
    slug = "".join(c for c in twin_login.lower() if c.isalnum() or c == "_")
    folder = model_cache() / "adapters" / f"smollm2-{slug}-{_key(base, log, twin_login, holdout)}"
    train_log = folder / "train.txt"
    adapter = folder / "adapter"
    folder.parent.mkdir(parents=True, exist_ok=True)
    # one trainer at a time per adapter: two test runs on one machine would wipe each other's work
    with (folder.parent / f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        seconds = _train_unless_cached(base, log, twin_login, earlier, folder)
    return TwinLora(
        adapter=adapter,
        train_log=train_log,
        heldout=tuple(heldout),
        earlier=tuple(earlier),
        train_seconds=seconds,
    )


def _train_unless_cached(
    base: Path, log: Path, twin_login: str, earlier: list[ChatMessage], folder: Path
) -> float:
    """Train into `folder` unless it holds an adapter; the seconds it took (0 when cached)."""
    adapter = folder / "adapter"
    seconds = 0.0
    if not (adapter / "adapter_model.safetensors").is_file():
        work = folder.with_name(folder.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _write_train_log(log, earlier, work / "train.txt")
        started = time.monotonic()
        _cohost(
            "dataset", "build", str(work / "train.txt"), "--twin", twin_login,
            "--name", TWIN, "--out", str(work / "train.jsonl"), "--no-progress",
        )  # fmt: skip
        _cohost(
            "train", "lora", "--data", str(work / "train.jsonl"), "--base", str(base),
            "--out", str(work / "adapter"), *TRAIN_ARGS,
        )  # fmt: skip
        seconds = time.monotonic() - started
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    return seconds


def _write_train_log(log: Path, earlier: list[ChatMessage], out: Path) -> None:
    """The trained part as a log file: the log's own first lines when it is one message a line."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    if log.suffix != ".json":
        events = [e for e in open_log(log) if type(e) is ChatMessage]
        if len(events) == len(lines):  # one message a line, nothing else in it
            out.write_text("".join(lines[: len(earlier)]), encoding="utf-8")
            return
    write_log(earlier, out)


def write_log(messages: Sequence[ChatMessage], out: Path) -> None:
    """Messages as Twitch-Chat-Downloader writes text, `[H:MM:SS] <login> text`, from 0:00:00."""
    start = messages[0].ts if messages else 0.0
    text = "".join(
        f"[{_clock(m.ts - start)}] <{m.login}> {m.text}\n" for m in messages if m.text.strip()
    )
    out.write_text(text, encoding="utf-8")


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _cohost(*args: str) -> None:
    """A cohost command in its own process, as a user runs it."""
    done = subprocess.run(  # noqa: PLW1510 - the failure is raised below with the output
        [str(REPO / ".venv" / "bin" / "cohost"), *args],
        capture_output=True,
        text=True,
        timeout=3600,  # training on a busy 2-core machine
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"cohost {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def serve_options(base: Path, lora: Path | None = None) -> ServeOptions:
    """SmolLM2 on the CPU vLLM, its twin LoRA as `twin`; room for a chat window and a reply."""
    return ServeOptions(
        model=base,
        loras=[(TWIN, lora)] if lora is not None else [],
        max_lora_rank=8,
        max_model_len=2048,
        kv_cache="256M",
    )
