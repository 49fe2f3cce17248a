"""`cohost train lora | dpo`: a LoRA for the twin from `cohost dataset` files (the train extra)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cohost.app.settings import Settings
from cohost.train.dpo import train_dpo
from cohost.train.lora import DEFAULT_TARGETS, TrainOptions, describe, parse_targets, train_lora

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction


def register(subparsers: Subparsers) -> None:
    """Add the `train` command and its subcommands to the top-level CLI."""
    train = subparsers.add_parser(
        "train", help="fine-tune the twin's LoRA (needs: .venv/bin/pip install -e '.[train]')"
    )
    commands = train.add_subparsers(dest="train_command", metavar="SUBCOMMAND", required=True)

    lora = commands.add_parser(
        "lora", help='supervised fine-tuning of a LoRA on {"text"} lines (cohost dataset build)'
    )
    lora.add_argument("--data", type=Path, required=True, help="the JSONL file of examples")
    lora.add_argument(
        "--base", required=True, help="the base model: a folder or a Hugging Face model id"
    )
    _common(lora, lr=2e-4)
    lora.set_defaults(handler=_lora)

    dpo = commands.add_parser(
        "dpo", help="DPO of a LoRA on {prompt, chosen, rejected} lines (cohost dataset dpo)"
    )
    dpo.add_argument("--data", type=Path, required=True, help="the JSONL file of pairs")
    dpo.add_argument("--base", help="the base model (default: the one --adapter was trained on)")
    dpo.add_argument(
        "--adapter",
        type=Path,
        help="train on this SFT adapter (its rank and modules; the reference is a frozen copy) "
        "instead of a fresh LoRA",
    )
    dpo.add_argument("--beta", type=float, default=0.1, help="DPO's beta (default 0.1)")
    _common(dpo, lr=5e-6)
    dpo.set_defaults(handler=_dpo)


def _common(parser: argparse.ArgumentParser, *, lr: float) -> None:
    defaults = TrainOptions()
    parser.add_argument(
        "--out", type=Path, required=True, help="the adapter folder to write (vLLM loads it)"
    )
    parser.add_argument("--rank", type=int, default=defaults.rank, help="LoRA rank (default 16)")
    parser.add_argument("--alpha", type=int, default=defaults.alpha, help="LoRA alpha (default 32)")
    parser.add_argument(
        "--dropout", type=float, default=defaults.dropout, help="LoRA dropout (default 0.05)"
    )
    parser.add_argument(
        "--target-modules",
        type=parse_targets,
        default=DEFAULT_TARGETS,
        help=f"comma-separated module names (default {','.join(DEFAULT_TARGETS)})",
    )
    parser.add_argument(
        "--epochs", type=float, default=defaults.epochs, help="passes over the data (default 1)"
    )
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (overrides)")
    parser.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr:g})")
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="examples per device step"
    )
    parser.add_argument(
        "--grad-accum", type=int, default=defaults.grad_accum, help="steps per optimiser update"
    )
    parser.add_argument(
        "--max-len",
        type=int,
        default=defaults.max_len,
        help="tokens per example; a longer one loses its oldest chat lines, never the twin's "
        f"(default {defaults.max_len})",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 weights and mixed precision (default: on a GPU that supports it)",
    )
    parser.add_argument(
        "--load-4bit",
        action="store_true",
        help="QLoRA: the base in 4-bit NF4 (CUDA and bitsandbytes)",
    )
    parser.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="trade compute for memory (default: on a GPU)",
    )
    parser.add_argument(
        "--logging-steps", type=int, default=defaults.logging_steps, help="steps between logs"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a progress bar (default on)",
    )


def options(args: argparse.Namespace) -> TrainOptions:
    """The run's options from the parsed command line."""
    return TrainOptions(
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=tuple(args.target_modules),
        epochs=args.epochs,
        max_steps=args.max_steps,
        lr=args.lr,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_len=args.max_len,
        seed=args.seed,
        bf16=args.bf16,
        load_4bit=args.load_4bit,
        gradient_checkpointing=args.gradient_checkpointing,
        logging_steps=args.logging_steps,
        progress=args.progress,
    )


def _lora(args: argparse.Namespace, settings: Settings) -> int:
    result = train_lora(args.data, args.base, args.out, options(args))
    print("\n".join(describe(result)))
    return 0


def _dpo(args: argparse.Namespace, settings: Settings) -> int:
    result = train_dpo(
        args.data, args.base, args.out, options(args), adapter=args.adapter, beta=args.beta
    )
    print("\n".join(describe(result)))
    return 0
