"""How tests and benchmarks start vLLM: the dtype on the command line, a dead server explained."""

from __future__ import annotations

from pathlib import Path

from tests.support.tiny_model import TinyModel, serve_options, vllm_server_command
from tests.support.vllm import (
    ServeOptions,
    dtype_for,
    explain_death,
    server_command,
    worker_lines,
)

TINY = TinyModel(base=Path("/m/base"), lora=Path("/m/lora"), eos_token_id=2)


def _flag(command: list[str], name: str) -> str:
    assert command.count(name) == 1, command
    return command[command.index(name) + 1]


def test_cpu_serving_always_names_float32() -> None:
    # vLLM's dtype=auto picks bf16 on CPUs that advertise it, whose kernels die with SIGILL on some
    assert dtype_for("cpu") == "float32"
    assert _flag(vllm_server_command(TINY, 8000), "--dtype") == "float32"
    assert _flag(server_command(ServeOptions(model=Path("/m")), 8000), "--dtype") == "float32"


def test_the_dtype_follows_the_device_not_the_machine() -> None:
    gpu = server_command(ServeOptions(model=Path("/m"), device="cuda"), 8000)
    assert _flag(gpu, "--dtype") == "auto"
    assert "--kv-cache-memory-bytes" not in gpu  # a CPU-only limit


def test_the_bench_serves_what_the_fixture_serves() -> None:
    command = server_command(serve_options(TINY), 8001)
    assert command == vllm_server_command(TINY, 8001)
    assert _flag(command, "--lora-modules") == "twin=/m/lora"
    assert _flag(command, "--host") == "127.0.0.1"


SIGILL_LOG = """\
INFO 12-07 10:00:01 [api_server.py:1] vLLM API server version 0.32.0
(EngineCore_DP0 pid=812) INFO 12-07 10:00:05 [core.py:90] dtype=torch.bfloat16
(VllmWorker-0 pid=840) INFO 12-07 10:00:09 [cpu_worker.py:7] warming up
INFO:     127.0.0.1:5321 - "GET /v1/models HTTP/1.1" 200 OK
(EngineCore_DP0 pid=812) ERROR 12-07 10:00:12 [multiproc_executor.py:149] Worker proc \
VllmWorker-0 died unexpectedly (exit code: -4), shutting down executor.
INFO:     Shutting down
"""


def test_a_worker_killed_by_sigill_is_explained() -> None:
    # the API server itself exits 0: the cause is in the worker's line
    why = explain_death(0, SIGILL_LOG)
    assert "SIGILL" in why and "--dtype float32" in why
    lines = worker_lines(SIGILL_LOG)
    assert "died unexpectedly" in lines and "dtype=torch.bfloat16" in lines
    assert "Shutting down" not in lines  # the API server's own lines come separately


def test_other_deaths_name_their_cause() -> None:
    assert "OOM" in explain_death(-9, "")
    assert "SIGSEGV" in explain_death(None, "Worker proc died unexpectedly (exit code: -11)")
    assert explain_death(1, "Traceback ... ValueError") == (
        "vLLM exited with 1, no known cause in its log"
    )
