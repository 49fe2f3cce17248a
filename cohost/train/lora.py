"""`cohost train lora`: TRL's SFTTrainer with a peft LoRA on `{"text"}` JSON lines."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cohost.core.errors import InputError, Permanent
from cohost.dataset.build import DatasetMeta, meta_path, read_json_object, read_meta

TRAIN_MODULES = ("torch", "transformers", "peft", "trl", "datasets")
INSTALL_HINT = ".venv/bin/pip install -e '.[train]'"
# The attention and MLP projections of Llama / Mistral (Zephyr) / Qwen: all of them, as QLoRA does.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Beside peft's files: the name the twin was rendered as in the training data. Served under
# another name, the prompt ends on a speaker the model never was (cohost refuses: see app).
TWIN_FILE = "cohost_twin.json"


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
    twin: str | None = None  # the name the twin was trained as, when the data said
    max_len: int = 0
    shortened: int = 0  # examples whose oldest chat lines were dropped to fit max_len
    cut: int = 0  # ...of which the twin's (last) line itself lost its start


@dataclass(frozen=True, slots=True)
class Fitted:
    """An example made to fit: what was dropped from its start."""

    text: str
    dropped_lines: int = 0  # whole chat lines after the header
    cut: bool = False  # the last line itself lost its start

    @property
    def shortened(self) -> bool:
        """Whether anything was taken out."""
        return self.dropped_lines > 0 or self.cut


def split_header(text: str, header: str | None = None) -> tuple[str, list[str]]:
    """An example's header and its chat lines, each with its line break.

    The header is `header` when the text opens with it; else everything up to the first blank
    line (a rendered chat line is never blank, so only the header holds one), else nothing.
    """
    if header is None or not text.startswith(header):
        blank = text.find("\n\n")
        header = text[: blank + 2] if blank >= 0 else ""
    return header, text[len(header) :].splitlines(keepends=True)


def fit_from_start(
    text: str,
    limit: int,
    count: Callable[[str], int],
    *,
    header: str | None = None,
    cut_last: bool = True,
) -> Fitted:
    """The example within `limit` tokens (as `count` says), cut from its start, not its end.

    The last line is the one that matters (the twin's line of an SFT example, the twin's open
    turn of a DPO prompt): whole chat lines after the header go, oldest first, until it fits.
    When the header and the last line alone are too long, the last line keeps its end (at a
    word boundary when it can) and, if even that needs it, the header goes; with
    `cut_last=False` they are kept as they are. Best effort: a `limit` below a few tokens can
    leave it too long.
    """
    if count(text) <= limit:
        return Fitted(text)
    head, lines = split_header(text, header)
    if not lines:
        return Fitted(text)
    for dropped in range(1, len(lines)):
        shorter = head + "".join(lines[dropped:])
        if count(shorter) <= limit:
            return Fitted(shorter, dropped)
    dropped, last = len(lines) - 1, lines[-1]
    if not cut_last or count(head + last) <= limit:
        return Fitted(head + last, dropped)
    if count(head + last[-1:]) > limit:
        head = ""  # the header alone fills the budget: the twin's words matter more
    start = _first_fitting(last, limit, lambda tail: count(head + tail))
    space = last.find(" ", start)
    if start > 0 and 0 <= space < len(last.rstrip()) - 1 and last[start - 1] != " ":
        start = space + 1  # not in the middle of a word
    return Fitted(head + last[start:].lstrip(" "), dropped, cut=True)


def _first_fitting(line: str, limit: int, count: Callable[[str], int]) -> int:
    """The smallest start whose tail of `line` fits (a binary search: longer never counts less)."""
    low, high = 0, len(line) - 1  # the tail from `high` is one character: the best there is
    while low < high:
        middle = (low + high) // 2
        if count(line[middle:]) <= limit:
            high = middle
        else:
            low = middle + 1
    return low


def fit_examples(
    records: Sequence[Mapping[str, str]],
    limit: int,
    count: Callable[[str], int],
    *,
    header: str | None = None,
) -> tuple[list[dict[str, str]], int, int]:
    """`{"text"}` records fitted to `limit` from their start; with how many shortened and cut."""
    fitted: list[dict[str, str]] = []
    shortened = cut = 0
    for record in records:
        done = fit_from_start(record["text"], limit, count, header=header)
        shortened += done.shortened
        cut += done.cut
        fitted.append({**record, "text": done.text})
    return fitted, shortened, cut


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """Tokens of a text as TRL trains on it: the tokenizer's special tokens, and EOS appended."""
    eos = tokenizer.eos_token or ""

    def count(text: str) -> int:
        return len(tokenizer(text if text.endswith(eos) else text + eos)["input_ids"])

    return count


def data_twin(data: Path, records: Sequence[Mapping[str, str]], field: str) -> DatasetMeta | None:
    """What `cohost dataset` recorded of `data` (DATA.meta.json), checked against the records.

    InputError when a record does not open with the header the twin's name was rendered into:
    data of two twins (or of another file) mixed, and the adapter would learn two names.
    """
    meta = read_meta(data)
    if meta is None:
        return None
    strangers = [i for i, r in enumerate(records, 1) if not r[field].startswith(meta.header)]
    if strangers:
        raise InputError(
            f"{len(strangers)} record(s), the first record {strangers[0]}, do not open with the "
            f"header {meta.header.strip()!r} of the twin {meta.twin!r} that {meta_path(data).name} "
            "names: data rendered for another twin name was mixed in (build it again with one "
            "--name)",
            path=data,
        )
    return meta


def read_adapter_twin(adapter: Path) -> str | None:
    """The name an adapter's twin was trained as (its cohost_twin.json); None if it does not say."""
    if not adapter.is_dir():
        raise InputError("no such adapter folder", path=adapter)
    path = adapter / TWIN_FILE
    if not path.is_file():
        return None
    twin = read_json_object(path).get("twin")
    if not isinstance(twin, str) or not twin:
        raise InputError("names no twin", path=path)
    return twin


def write_adapter_twin(adapter: Path, twin: str, *, data: Path) -> None:
    """Record in the adapter folder the name its twin was trained as."""
    record = {"twin": twin, "data": str(data.resolve())}
    (adapter / TWIN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


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
    meta = data_twin(data, records, "text")
    base = resolve_base(base)
    require_train_extra()
    from datasets import Dataset  # noqa: PLC0415 (the train extra, loaded on use)
    from trl.trainer.sft_config import SFTConfig  # noqa: PLC0415
    from trl.trainer.sft_trainer import SFTTrainer  # noqa: PLC0415

    tokenizer = load_tokenizer(base)
    # An example ends on the twin's line: too long, it loses its oldest chat lines, never that.
    fitted, shortened, cut = fit_examples(
        records, options.max_len, token_counter(tokenizer), header=meta.header if meta else None
    )
    # Loss on the whole text: the simulator writes viewers' lines as well as the twin's.
    config = SFTConfig(
        **trainer_arguments(out, options),
        dataset_text_field="text",
        max_length=options.max_len,
        packing=False,
        completion_only_loss=False,
    )
    trainer = SFTTrainer(
        model=base,
        args=config,
        train_dataset=Dataset.from_list(fitted),
        processing_class=tokenizer,
        peft_config=lora_config(options),
        quantization_config=quantization_config(options),
    )
    result = run_and_save(trainer, out, examples=len(records))
    if meta is not None:
        write_adapter_twin(out, meta.twin, data=data)
    return replace(
        result,
        twin=meta.twin if meta else None,
        max_len=options.max_len,
        shortened=shortened,
        cut=cut,
    )


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
    if result.shortened:
        yield (
            f"{result.shortened} example(s) longer than --max-len {result.max_len} tokens lost "
            f"their oldest chat lines ({result.cut} of them the start of the twin's own line too)"
        )
    yield (
        "serve it: vllm serve BASE --enable-lora --max-lora-rank RANK "
        f"--lora-modules twin={result.adapter}"
    )
    if result.twin is not None:
        yield (
            f"it speaks as {result.twin!r}: serve it with COHOST_TWIN__NAME={result.twin} "
            f"(COHOST_SIMULATOR__ADAPTER={result.adapter} makes cohost check it)"
        )
    else:
        yield (
            "the data did not say which name the twin was rendered as (no DATA.meta.json from "
            "cohost dataset): serve it with COHOST_TWIN__NAME set to the name in its examples"
        )
