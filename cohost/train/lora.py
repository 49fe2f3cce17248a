"""`cohost train lora`: TRL's SFTTrainer with a peft LoRA on `{"text"}` JSON lines."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohost.errors import InputError, Permanent

TRAIN_MODULES = ("torch", "transformers", "peft", "trl", "datasets")
INSTALL_HINT = ".venv/bin/pip install -e '.[train]'"
# The attention and MLP projections of Llama / Mistral (Zephyr) / Qwen: all of them, as QLoRA does.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class MissingTrainExtra(Permanent):
    """torch, transformers, peft, trl or datasets is not installed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainOptions:
    """The LoRA and the run: what both SFT and DPO take."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 4
    grad_accum: int = 4
    max_len: int = 512
    warmup_ratio: float = 0.03
    seed: int = 1234
    bf16: bool | None = None  # None: when a CUDA device supports it
    load_4bit: bool = False
    gradient_checkpointing: bool | None = None  # None: on a CUDA device only
    logging_steps: int = 10
    progress: bool = True

    def check(self) -> None:
        """InputError for a value no run can use."""
        positive: dict[str, float] = {
            "--rank": self.rank,
            "--alpha": self.alpha,
            "--epochs": self.epochs,
            "--lr": self.lr,
            "--batch-size": self.batch_size,
            "--grad-accum": self.grad_accum,
            "--max-len": self.max_len,
        }
        for flag, value in positive.items():
            if not value > 0:
                raise InputError(f"{flag} must be positive, not {value}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"--max-steps must be at least 1, not {self.max_steps}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"--dropout must be in [0, 1), not {self.dropout}")
        if not self.target_modules:
            raise InputError("--target-modules names no module")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainResult:
    """What a run wrote and how it went."""

    adapter: Path
    examples: int
    steps: int
    loss: float


def parse_targets(value: str) -> tuple[str, ...]:
    """`q_proj,v_proj` as a tuple of module names."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def read_records(path: Path, fields: Sequence[str]) -> list[dict[str, str]]:
    """JSON lines whose every record holds these string fields (others are dropped)."""
    if not path.is_file():
        raise InputError("no such data file", path=path)
    records: list[dict[str, str]] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError("not UTF-8 text", path=path, line=number) from None
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON ({exc.msg})", path=path, line=number) from None
            if not isinstance(item, dict):
                raise InputError("a record must be a JSON object", path=path, line=number)
            missing = [f for f in fields if not isinstance(item.get(f), str) or not item[f]]
            if missing:
                raise InputError(
                    f"needs non-empty string field(s) {', '.join(missing)}", path=path, line=number
                )
            records.append({f: item[f] for f in fields})
    if not records:
        raise InputError("holds no examples", path=path)
    return records


def require_train_extra() -> None:
    """MissingTrainExtra naming what to install, unless every training library imports."""
    missing = []
    for name in TRAIN_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingTrainExtra(
            f"training needs {', '.join(missing)}: {INSTALL_HINT} "
            "(install torch==2.13.0 first on a machine without CUDA)"
        )


def resolve_base(base: str) -> str:
    """A local model folder as an absolute path (the adapter records it), or a hub id as given."""
    path = Path(base).expanduser()
    if not (path.is_absolute() or base.startswith((".", "~")) or path.exists()):
        return base
    if not (path / "config.json").is_file():
        raise InputError("not a model folder (no config.json)", path=path)
    return str(path.resolve())


def train_lora(data: Path, base: str, out: Path, options: TrainOptions) -> TrainResult:
    """SFT of a fresh LoRA on the `{"text"}` records of `data`; the adapter goes to `out`."""
    options.check()
    records = read_records(data, ["text"])
    base = resolve_base(base)
    require_train_extra()
    from datasets import Dataset  # noqa: PLC0415 (the train extra, loaded on use)
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415
    from trl.trainer.sft_trainer import SFTTrainer  # noqa: PLC0415

    # Loss on the whole text: the simulator writes viewers' lines as well as the twin's.
    config = SFTConfig(
        **trainer_arguments(out, options),
        dataset_text_field="text",
        max_length=options.max_len,
        packing=False,
        completion_only_loss=False,
    )
    tokenizer = load_tokenizer(base)
    trainer = SFTTrainer(
        model=base,
        args=config,
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=lora_config(options),
        quantization_config=quantization_config(options),
    )
    return run_and_save(trainer, out, examples=len(records))


def trainer_arguments(out: Path, options: TrainOptions) -> dict[str, Any]:
    """The TrainingArguments SFTConfig and DPOConfig share."""
    import torch  # noqa: PLC0415

    cuda = torch.cuda.is_available()
    bf16 = options.bf16 if options.bf16 is not None else cuda and torch.cuda.is_bf16_supported()
    checkpointing = options.gradient_checkpointing
    dtype = "bfloat16" if bf16 else "float32"
    return {
        "output_dir": str(out),
        "num_train_epochs": options.epochs,
        "max_steps": options.max_steps if options.max_steps is not None else -1,
        "learning_rate": options.lr,
        "per_device_train_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.grad_accum,
        "warmup_steps": options.warmup_ratio,  # transformers 5: a float below 1 is a ratio
        "lr_scheduler_type": "cosine",
        "seed": options.seed,
        "bf16": bf16,
        "activation_checkpointing": checkpointing if checkpointing is not None else cuda,
        "logging_steps": options.logging_steps,
        "dataloader_pin_memory": cuda,
        "save_strategy": "no",  # the adapter is saved once, at the end, in peft's format
        "report_to": "none",
        "disable_tqdm": not options.progress,
        "model_init_kwargs": {"dtype": dtype},
    }


def load_tokenizer(base: str) -> Any:
    """The base model's tokenizer, with a pad token (its EOS when it has none)."""
    from transformers import AutoTokenizer  # noqa: PLC0415

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def lora_config(options: TrainOptions) -> Any:
    """peft's LoraConfig for a causal LM."""
    from peft import LoraConfig  # noqa: PLC0415

    return LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def quantization_config(options: TrainOptions) -> Any:
    """QLoRA's 4-bit NF4 (bitsandbytes, CUDA only), or None."""
    if not options.load_4bit:
        return None
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        raise InputError("--load-4bit needs a CUDA GPU (bitsandbytes)")
    try:
        importlib.import_module("bitsandbytes")
    except ImportError:
        raise MissingTrainExtra(
            "--load-4bit needs bitsandbytes: pip install bitsandbytes"
        ) from None
    transformers: Any = importlib.import_module("transformers")  # its constructor is untyped
    return transformers.BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def run_and_save(trainer: Any, out: Path, *, examples: int) -> TrainResult:
    """Train, then write only the trained adapter (peft's files, which vLLM loads) to `out`."""
    output = trainer.train()
    out.mkdir(parents=True, exist_ok=True)
    # A DPO run on an existing adapter also holds its frozen "ref" copy: keep only the trained one.
    trainer.model.save_pretrained(str(out), selected_adapters=["default"])
    missing = [name for name in ADAPTER_FILES if not (out / name).is_file()]
    if missing:
        raise Permanent(f"the adapter in {out} lacks {', '.join(missing)}")
    return TrainResult(
        adapter=out,
        examples=examples,
        steps=int(output.global_step),
        loss=float(output.training_loss),
    )


def describe(result: TrainResult) -> Iterator[str]:
    """The lines the CLI prints after a run."""
    yield (
        f"{result.examples} example(s), {result.steps} step(s), "
        f"mean training loss {result.loss:.4f} -> {result.adapter}"
    )
    yield (
        "serve it: vllm serve BASE --enable-lora --max-lora-rank RANK "
        f"--lora-modules twin={result.adapter}"
    )
