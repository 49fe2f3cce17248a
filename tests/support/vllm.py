"""Starting a real vLLM (the CPU build in .vllm-venv) on loopback, for tests and benchmarks.

One place builds the command line, waits until the server can generate, explains a server that
died, and stops it with the engine process it forked. The test fixtures and
`bench/turn_latency.py` share it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = REPO / ".vllm-venv" / "bin" / "python"
VLLM_READY = REPO / ".vllm-venv" / ".ready"
START_TIMEOUT_S = 300.0  # ~40 s on a quiet machine; minutes when the cores are busy

Device = Literal["cpu", "cuda"]

ENV = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_HOST_IP": "127.0.0.1",
    "HF_HUB_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_LOGGING_LEVEL": "INFO",
    # POST /v1/load_lora_adapter: a freshly trained adapter without a second server
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
}


def dtype_for(device: Device) -> str:
    """The `--dtype` to serve with on a device, never vLLM's own `auto` on a CPU.

    On a CPU `auto` takes bfloat16 when the CPU advertises it (avx512_bf16, AMX), and the bf16
    kernels die with SIGILL on some such CPUs (KVM guests): float32 runs everywhere. A GPU picks
    its own half precision well (bf16 where supported, else fp16).
    """
    return "float32" if device == "cpu" else "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What one vLLM serves, and with which limits."""

    model: Path
    loras: Sequence[tuple[str, Path]] = ()
    max_lora_rank: int = 8
    max_model_len: int = 2048
    kv_cache: str = "64M"
    device: Device = "cpu"


def server_command(options: ServeOptions, port: int, python: Path = VLLM_PYTHON) -> list[str]:
    """The command line of a vLLM OpenAI server for these options, on loopback."""
    command = [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        *["--model", str(options.model)],
        *["--dtype", dtype_for(options.device)],
        *["--max-model-len", str(options.max_model_len)],
        *["--host", "127.0.0.1", "--port", str(port)],
    ]
    if options.device == "cpu":
        command += ["--kv-cache-memory-bytes", options.kv_cache]
    if options.loras:
        modules = [f"{name}={path}" for name, path in options.loras]
        command += ["--enable-lora", "--lora-modules", *modules]
        command += ["--max-lora-rank", str(options.max_lora_rank)]
    return command


# A worker or engine process's line, as vLLM prefixes it: "(VllmWorker-0 pid=12) ...",
# "(EngineCore_DP0 pid=11) ...".
_WORKER_LINE = re.compile(r"^\((?:VllmWorker|EngineCore|Worker)[^)]*\)")
_DIED = re.compile(r"died unexpectedly \(exit code: (-?\d+)\)|exit code[: ]+(-\d+)")

_SIGNAL_CAUSES = {
    signal.SIGILL: "the CPU refused an instruction: try `--dtype float32` (bf16 kernels on "
    "a CPU that advertises avx512_bf16/AMX)",
    signal.SIGKILL: "killed, most often by the kernel's OOM killer: lower --kv-cache-memory-bytes "
    "or --max-model-len, or free memory",
    signal.SIGSEGV: "a crash in native code (a kernel, or a head_dim the CPU attention lacks)",
    signal.SIGBUS: "a memory error: is /dev/shm big enough?",
}


def explain_death(returncode: int | None, log: str) -> str:
    """Why a vLLM server went away, from its exit status and its log: a line a person can act on.

    The API server often exits 0 after its engine died, so a signal in the log counts as much as
    the status itself.
    """
    codes = [int(a or b) for a, b in _DIED.findall(log)]
    if returncode is not None and returncode < 0:
        codes.append(returncode)
    for code in codes:
        with contextlib.suppress(ValueError):
            sig = signal.Signals(-code)
            cause = _SIGNAL_CAUSES.get(sig, "a signal")
            return f"a vLLM process died of {sig.name} ({code}): {cause}"
    if "Out of memory" in log or "MemoryError" in log:
        return "out of memory: lower --kv-cache-memory-bytes or --max-model-len"
    status = "is still running" if returncode is None else f"exited with {returncode}"
    return f"vLLM {status}, no known cause in its log"


def worker_lines(log: str, lines: int = 20) -> str:
    """The last lines the engine and worker processes wrote: where a crash is told."""
    found = [line for line in log.splitlines() if _WORKER_LINE.match(line)]
    return "\n".join(found[-lines:]) or "(no worker lines)"


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def failure_report(returncode: int | None, log: Path, headline: str) -> str:
    """A headline, its likely cause, then the workers' last lines and the server's."""
    text = log.read_text(errors="replace")
    return (
        f"{headline}: {explain_death(returncode, text)}\n"
        f"--- worker and engine lines ---\n{worker_lines(text)}\n"
        f"--- last lines of {log} ---\n{tail(log)}"
    )


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generates(root: str, model: str) -> bool:
    """Whether the server makes a token (answering /v1/models comes before it can)."""
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


class VllmFailed(RuntimeError):
    """The server died or never generated; the message says why and shows its logs."""


@contextlib.contextmanager
def running(
    options: ServeOptions, log: Path, *, start_timeout_s: float = START_TIMEOUT_S
) -> Iterator[str]:
    """A vLLM server for these options, as its root URL once it generates; stopped at the end."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        # A session of its own: vLLM forks an engine process, and both must go at the end.
        process = subprocess.Popen(
            server_command(options, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV},
            cwd=log.parent,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not generates(root, str(options.model)):
            if process.poll() is not None or _DIED.search(log.read_text(errors="replace")):
                raise VllmFailed(failure_report(process.poll(), log, "vLLM went away"))
            if time.monotonic() > deadline:
                headline = f"vLLM did not generate within {start_timeout_s:.0f} s"
                raise VllmFailed(failure_report(process.poll(), log, headline))
            time.sleep(1.0)
        yield root
    finally:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # an engine process left behind
