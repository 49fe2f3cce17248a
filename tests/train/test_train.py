"""`cohost train lora | dpo`: options, errors, and tiny real runs of TRL on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cohost.cli.main import build_parser, main
from cohost.core.errors import InputError
from cohost.core.events import ChatMessage
from cohost.dataset.build import DatasetMeta, write_meta
from cohost.text.render import render_example, render_prompt
from cohost.train.lora import DEFAULT_TARGETS, TWIN_FILE, read_adapter_twin, read_records
from tests.support.tiny_llama import tiny_llama
from tests.train import PEFT_DEPRECATION, require_train_extra

pytestmark = pytest.mark.filterwarnings(PEFT_DEPRECATION)

REPO = Path(__file__).resolve().parents[2]
TWIN = "twin"
CHAT = [
    ("ana", "hello everyone"),
    ("bo", "what game is this"),
    (TWIN, "the frog knight one again"),
    ("cyra", "nice jump"),
    (TWIN, "pure luck honestly"),
    ("dex", "is the twin awake"),
    (TWIN, "always awake, always watching"),
]


def _message(n: int, login: str, text: str) -> ChatMessage:
    return ChatMessage(id=str(n), channel="c", login=login, display_name=login, text=text, ts=0.0)


def _texts() -> list[str]:
    """Every window of CHAT that ends on a twin line, rendered as `cohost dataset build` does."""
    window = [_message(n, login, text) for n, (login, text) in enumerate(CHAT)]
    return [render_example(window[: i + 1], TWIN) for i, m in enumerate(window) if m.login == TWIN]


def _write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def sft_data(tmp_path: Path) -> Path:
    data = _write_jsonl(tmp_path / "train.jsonl", [{"text": t} for t in _texts()])
    write_meta(data, DatasetMeta.rendered(TWIN))  # as `cohost dataset build` does
    return data


@pytest.fixture
def dpo_data(tmp_path: Path) -> Path:
    window = [_message(n, login, text) for n, (login, text) in enumerate(CHAT[:2])]
    prompt = render_prompt(window, TWIN)
    pairs = [
        {"prompt": prompt, "chosen": " the frog knight one again\n", "rejected": " as an AI\n"},
        {"prompt": prompt, "chosen": " a roguelike, chat\n", "rejected": " I cannot say\n"},
    ]
    return _write_jsonl(tmp_path / "pairs.jsonl", pairs)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random one-layer Llama and a byte-level BPE tokenizer, saved (no downloads)."""
    require_train_extra()
    folder = tmp_path_factory.mktemp("tiny-base")
    model, tokenizer = tiny_llama(_texts(), vocab_size=400, max_positions=512)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _adapter_config(adapter: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((adapter / "adapter_config.json").read_text())
    return config


def _lora_weights(adapter: Path) -> dict[str, list[float]]:
    from safetensors.torch import load_file  # noqa: PLC0415

    tensors = load_file(adapter / "adapter_model.safetensors")
    return {name: t.flatten().tolist() for name, t in tensors.items()}


def test_lora_options_are_parsed() -> None:
    args = build_parser().parse_args(
        [
            "train",
            "lora",
            "--data",
            "d.jsonl",
            "--base",
            "HuggingFaceH4/zephyr-7b-beta",
            "--out",
            "a",
            "--rank",
            "8",
            "--alpha",
            "16",
            "--max-steps",
            "5",
            "--target-modules",
            " q_proj, v_proj ,",
            "--no-bf16",
        ]
    )
    assert (args.data, args.base, args.out) == (
        Path("d.jsonl"),
        "HuggingFaceH4/zephyr-7b-beta",
        Path("a"),
    )
    assert (args.rank, args.alpha, args.max_steps) == (8, 16, 5)
    assert args.target_modules == ("q_proj", "v_proj")
    assert args.bf16 is False
    assert args.gradient_checkpointing is None  # decided by the device
    assert args.lr == 2e-4


def test_dpo_options_default_to_a_dpo_learning_rate_and_all_projections() -> None:
    args = build_parser().parse_args(
        ["train", "dpo", "--data", "p.jsonl", "--adapter", "sft", "--out", "dpo"]
    )
    assert args.base is None
    assert args.adapter == Path("sft")
    assert args.lr == 5e-6
    assert args.beta == 0.1
    assert args.target_modules == DEFAULT_TARGETS


def test_without_the_extra_the_cli_loads_and_says_what_to_install(
    sft_data: Path, tmp_path: Path
) -> None:
    # None in sys.modules makes every import of these packages fail, as if not installed.
    script = f"""
import sys
for name in ("torch", "transformers", "peft", "trl", "datasets"):
    sys.modules[name] = None
from cohost.cli.main import main
sys.exit(main(["train", "lora", "--data", {str(sft_data)!r}, "--base", {str(tmp_path)!r},
               "--out", {str(tmp_path / "out")!r}]))
"""
    (tmp_path / "config.json").write_text("{}")
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr  # only the user can fix it: EXIT_PERMANENT
    assert ".venv/bin/pip install -e '.[train]'" in done.stderr
    assert "torch, transformers, peft, trl, datasets" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_record_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "twin: hi\\n"}\n{"prompt": "no text here"}\n')
    code = main(["train", "lora", "--data", str(data), "--base", "m", "--out", str(tmp_path)])
    assert code == 1
    assert f"{data}:2: needs non-empty string field(s) text" in capsys.readouterr().err


def test_pairs_need_all_three_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "c"}])
    code = main(["train", "dpo", "--data", str(data), "--base", "m", "--out", str(tmp_path)])
    assert code == 1
    assert f"{data}:1: needs non-empty string field(s) rejected" in capsys.readouterr().err


def test_a_bad_option_or_base_is_refused_before_loading_anything(
    sft_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    common = ["--data", str(sft_data), "--out", str(out)]
    assert main(["train", "lora", *common, "--base", "m", "--rank", "0"]) == 1
    assert "--rank must be positive, not 0" in capsys.readouterr().err
    assert main(["train", "lora", *common, "--base", str(tmp_path)]) == 1
    assert f"{tmp_path}: not a model folder (no config.json)" in capsys.readouterr().err
    assert main(["train", "dpo", *common]) == 1
    assert "give --base MODEL (or --adapter" in capsys.readouterr().err
    assert not out.exists()


def test_sft_writes_an_adapter_vllm_and_peft_load(
    tiny_base: Path, sft_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adapter"
    code = main(
        [
            "train",
            "lora",
            "--data",
            str(sft_data),
            "--base",
            str(tiny_base),
            "--out",
            str(out),
            "--rank",
            "4",
            "--alpha",
            "8",
            "--target-modules",
            "q_proj,v_proj",
            "--max-steps",
            "3",
            "--batch-size",
            "2",
            "--grad-accum",
            "1",
            "--lr",
            "1e-2",
            "--max-len",
            "256",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 example(s), 3 step(s), mean training loss" in printed
    assert f"--lora-modules twin={out}" in printed
    assert "longer than --max-len" not in printed  # nothing needed shortening
    # the name the data rendered the twin as goes with the adapter, and the CLI says it
    assert read_adapter_twin(out) == TWIN
    assert f"serve it with COHOST_TWIN__NAME={TWIN}" in printed
    assert {p.name for p in out.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    config = _adapter_config(out)
    assert config["base_model_name_or_path"] == str(tiny_base)
    assert (config["r"], config["lora_alpha"], config["peft_type"]) == (4, 8, "LORA")
    assert set(config["target_modules"]) == {"q_proj", "v_proj"}
    weights = _lora_weights(out)
    b = [v for name, t in weights.items() if "lora_B" in name for v in t]
    assert b and any(v != 0.0 for v in b)  # B starts at zero: training moved it

    from peft import LoraConfig, PeftModel  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), out)
    loaded = model.peft_config["default"]
    assert isinstance(loaded, LoraConfig)
    assert loaded.r == 4


def test_sft_shortens_long_examples_from_their_start_and_says_how_many(
    tiny_base: Path, sft_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adapter"
    run = ["--max-steps", "1", "--batch-size", "3", "--grad-accum", "1", "--no-progress"]
    lora = ["--base", str(tiny_base), "--rank", "2", "--target-modules", "q_proj"]
    argv = ["train", "lora", "--data", str(sft_data), "--out", str(out), *lora, *run]
    # the longest example of three needs its oldest lines dropped to fit 40 tokens
    assert main([*argv, "--max-len", "40"]) == 0
    printed = capsys.readouterr().out
    assert "example(s) longer than --max-len 40 tokens lost their oldest chat lines" in printed
    assert (out / TWIN_FILE).is_file()


def test_dpo_trains_on_an_sft_adapter_and_keeps_only_it(
    tiny_base: Path, sft_data: Path, dpo_data: Path, tmp_path: Path
) -> None:
    sft = tmp_path / "sft"
    run = ["--max-steps", "3", "--batch-size", "2", "--grad-accum", "1", "--no-progress"]
    lora = ["--base", str(tiny_base), "--rank", "4", "--target-modules", "q_proj,v_proj"]
    assert main(["train", "lora", "--data", str(sft_data), "--out", str(sft), *lora, *run]) == 0
    dpo = tmp_path / "dpo"
    code = main(
        [
            *["train", "dpo", "--data", str(dpo_data), "--adapter", str(sft), "--out", str(dpo)],
            *[*run, "--lr", "1e-2", "--max-len", "256"],
        ]
    )
    assert code == 0
    assert not (dpo / "ref").exists()  # the frozen reference copy is not written
    assert read_adapter_twin(dpo) == TWIN  # carried over from the SFT adapter
    config = _adapter_config(dpo)
    assert config["base_model_name_or_path"] == str(tiny_base)  # read from the SFT adapter
    assert config["r"] == 4
    before, after = _lora_weights(sft), _lora_weights(dpo)
    assert before.keys() == after.keys()
    assert before != after


def test_dpo_of_a_fresh_lora(tiny_base: Path, dpo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo"
    code = main(
        [
            *["train", "dpo", "--data", str(dpo_data), "--base", str(tiny_base)],
            *["--out", str(out), "--rank", "2", "--max-steps", "2", "--batch-size", "2"],
            *["--grad-accum", "1", "--lr", "1e-2", "--no-progress"],
        ]
    )
    assert code == 0
    config = _adapter_config(out)
    assert config["r"] == 2
    assert set(config["target_modules"]) == set(DEFAULT_TARGETS)


def test_training_data_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    data = tmp_path / "sft.jsonl"
    data.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(InputError) as caught:
        read_records(data, ("text",))
    assert caught.value.located() == f"{data}:2: not UTF-8 text"
