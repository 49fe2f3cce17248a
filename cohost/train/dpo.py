"""`cohost train dpo`: TRL's DPOTrainer on `{prompt, chosen, rejected}` JSON lines."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cohost.core.errors import InputError
from cohost.train.lora import (
    TrainOptions,
    TrainResult,
    data_twin,
    fit_from_start,
    load_tokenizer,
    lora_config,
    quantization_config,
    read_adapter_twin,
    read_records,
    require_train_extra,
    resolve_base,
    run_and_save,
    token_counter,
    trainer_arguments,
    write_adapter_twin,
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
    meta = data_twin(data, records, "prompt")
    twin = meta.twin if meta is not None else None
    if adapter is not None and (trained := read_adapter_twin(adapter)) is not None:
        if twin is not None and twin != trained:
            raise InputError(
                f"the pairs render the twin as {twin!r}, but the adapter was trained as "
                f"{trained!r}: build the pairs with `cohost dataset dpo --twin {trained}`",
                path=data,
            )
        twin = trained
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
    tokenizer = load_tokenizer(base)
    # TRL keeps the start of prompt + reply: a long window loses its oldest lines instead
    fitted, shortened = fit_prompts(
        records, options.max_len, token_counter(tokenizer), header=meta.header if meta else None
    )
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(fitted),
        processing_class=tokenizer,
        peft_config=peft_config,
        quantization_config=quantization,
    )
    result = run_and_save(trainer, out, examples=len(records))
    if twin is not None:
        write_adapter_twin(out, twin, data=data)
    return replace(result, twin=twin, max_len=options.max_len, shortened=shortened)


def fit_prompts(
    records: Sequence[dict[str, str]],
    limit: int,
    count: Callable[[str], int],
    *,
    header: str | None = None,
) -> tuple[list[dict[str, str]], int]:
    """Pairs whose prompts lost their oldest chat lines until prompt + either reply fits.

    The prompt's last line, the twin's open turn, always stays; a reply too long for any
    window is left to TRL.
    """
    fitted: list[dict[str, str]] = []
    shortened = 0
    for record in records:
        chosen, rejected = record["chosen"], record["rejected"]
        done = fit_from_start(
            record["prompt"],
            limit,
            lambda prompt: max(count(prompt + chosen), count(prompt + rejected)),  # noqa: B023
            header=header,
            cut_last=False,
        )
        shortened += done.shortened
        fitted.append({**record, "prompt": done.text})
    return fitted, shortened


def _with_adapter(base: str, adapter: Path, init: dict[str, Any], quantization: Any) -> Any:
    from peft import PeftModel  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    if not (adapter / "adapter_config.json").is_file():
        raise InputError("not a LoRA adapter folder (no adapter_config.json)", path=adapter)
    model = AutoModelForCausalLM.from_pretrained(base, quantization_config=quantization, **init)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
