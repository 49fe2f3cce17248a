"""A real vLLM (the CPU build in .vllm-venv) serving the tiny Llama and its twin LoRA."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tiny_model import REPO, ensure_tiny_model, vllm_server_command

VLLM_READY = REPO / ".vllm-venv" / ".ready"
START_TIMEOUT_S = 300.0  # ~40 s on a quiet machine; minutes when the cores are busy


@dataclass(frozen=True, slots=True, kw_only=True)
class VllmServer:
    """A running vLLM: its OpenAI base URL, served model names and log."""

    url: str
    root: str
    base_model: str
    lora_model: str
    eos_token_id: int
    log: Path

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a Prometheus metric from /metrics over the series matching labels."""
        with urllib.request.urlopen(f"{self.root}/metrics", timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{key}="{val}"' in series for key, val in labels.items()):
                total += float(value)
        return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _generates(root: str, model: str) -> bool:
    # /v1/models answers before the engine can run a step (FACTS.md): ask for a real token.
    body = json.dumps({"model": model, "prompt": "hi", "max_tokens": 1}).encode()
    request = urllib.request.Request(
        f"{root}/v1/completions", body, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bool(json.loads(response.read())["choices"])
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """One vLLM for the whole session, started on a free loopback port and stopped at the end."""
    if not VLLM_READY.is_file():
        reason = ".vllm-venv is missing: run scripts/setup-vllm (a few minutes, ~2.5 GB)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the vLLM tests: {reason}")
        pytest.skip(reason)
    model = ensure_tiny_model()
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    env = {
        **os.environ,
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_HOST_IP": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_LOGGING_LEVEL": "INFO",
        # POST /v1/load_lora_adapter: a freshly trained adapter without a second server
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
    }
    command = vllm_server_command(model, port)
    with log.open("wb") as out:
        # A session of its own: vLLM forks an engine process, and both must go at the end.
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _generates(root, str(model.base)):
            if process.poll() is not None:
                pytest.fail(f"vLLM exited with {process.returncode}:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM did not generate within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")
            time.sleep(1.0)
        yield VllmServer(
            url=f"{root}/v1",
            root=root,
            base_model=str(model.base),
            lora_model="twin",
            eos_token_id=model.eos_token_id,
            log=log,
        )
    finally:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # an engine process left behind
