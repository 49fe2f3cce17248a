"""`cohost train dpo`: TRL's DPOTrainer on `{prompt, chosen, rejected}` JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cohost.errors import InputError
from cohost.train.lora import (
    TrainOptions,
    TrainResult,
    load_tokenizer,
    lora_config,
    quantization_config,
    read_records,
    require_train_extra,
    resolve_base,
    run_and_save,
    trainer_arguments,
)

PAIR_FIELDS = ("prompt", "chosen", "rejected")


def adapter_base(adapter: Path) -> str:
    """The base model an adapter folder was trained on (its adapter_config.json)."""
    config = adapter / "adapter_config.json"
    if not config.is_file():
        raise InputError("not a LoRA adapter folder (no adapter_config.json)", path=adapter)
    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg})", path=config) from None
    if not isinstance(base, str) or not base:
        raise InputError("names no base model: give --base", path=config)
    return base


def train_dpo(
    data: Path,
    base: str | None,
    out: Path,
    options: TrainOptions,
    *,
    adapter: Path | None = None,
    beta: float = 0.1,
) -> TrainResult:
    """DPO of a LoRA on the pairs in `data`: a fresh one, or `adapter` (an SFT LoRA) trained on.

    The reference model is the policy with its adapter disabled (fresh) or a frozen copy of
    `adapter`, so no second model is loaded.
    """
    options.check()
    if not beta > 0:
        raise InputError(f"--beta must be positive, not {beta}")
    if base is None:
        if adapter is None:
            raise InputError("which model? give --base MODEL (or --adapter of an SFT run)")
        base = adapter_base(adapter)
    records = read_records(data, PAIR_FIELDS)
    base = resolve_base(base)
    require_train_extra()
    from datasets import Dataset  # noqa: PLC0415 (the train extra, loaded on use)
    from trl.trainer.dpo_config import DPOConfig  # noqa: PLC0415
    from trl.trainer.dpo_trainer import DPOTrainer  # noqa: PLC0415

    arguments = trainer_arguments(out, options)
    model: Any = base
    peft_config = lora_config(options)
    quantization = quantization_config(options)
    if adapter is not None:
        model = _with_adapter(base, adapter, arguments.pop("model_init_kwargs"), quantization)
        peft_config = quantization = None  # the adapter's own config; the model is loaded
    config = DPOConfig(**arguments, max_length=options.max_len, beta=beta)
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(records),
        processing_class=load_tokenizer(base),
        peft_config=peft_config,
        quantization_config=quantization,
    )
    return run_and_save(trainer, out, examples=len(records))


def _with_adapter(base: str, adapter: Path, init: dict[str, Any], quantization: Any) -> Any:
    from peft import PeftModel  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    if not (adapter / "adapter_config.json").is_file():
        raise InputError("not a LoRA adapter folder (no adapter_config.json)", path=adapter)
    model = AutoModelForCausalLM.from_pretrained(base, quantization_config=quantization, **init)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
