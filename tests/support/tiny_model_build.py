"""Builds the tiny model under .vllm-venv's python (torch, transformers, peft, tokenizers).

Run by tests/support/tiny_model.py as `python tiny_model_build.py CACHE_DIR`; reads
CACHE_DIR/corpus.json ({"base": [...], "lora": [...]}, texts rendered by cohost's renderer).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SEED = 1234

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build(cache: Path) -> None:
    """Tokenizer, base model and LoRA from cache/corpus.json into cache/base and cache/lora."""
    torch.manual_seed(SEED)
    data = json.loads((cache / "corpus.json").read_text())
    everything = data["base"] + data["lora"]

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(everything, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = CHATML
    assert tokenizer.eos_token_id == 2

    config = LlamaConfig(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        head_dim=32,  # vLLM's CPU attention needs at least 32
        vocab_size=1000,
        # room for the fusion prompt (a tiny vocabulary is wordy), and for a request long
        # enough that an abort shows, however slowly a loaded machine sees the closed stream
        max_position_embeddings=16384,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)

    def batches(texts: list[str], steps: int) -> list[torch.Tensor]:
        ids: list[int] = []
        for text in texts:
            ids += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        block = 128
        blocks = torch.tensor(ids[: len(ids) // block * block]).view(-1, block)
        gen = torch.Generator().manual_seed(SEED)
        return [blocks[torch.randint(len(blocks), (16,), generator=gen)] for _ in range(steps)]

    def train(module: torch.nn.Module, texts: list[str], steps: int, lr: float) -> None:
        params = [p for p in module.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=lr)
        module.train()
        for batch in batches(texts, steps):
            loss = module(input_ids=batch, labels=batch).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
        print(f"tiny-model: final loss {loss.item():.3f}", file=sys.stderr)

    train(model, data["base"], steps=200, lr=3e-3)
    model.eval()
    model.save_pretrained(cache / "base")
    tokenizer.save_pretrained(cache / "base")

    lora_config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,  # the default init makes the adapter a no-op
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora_config)
    train(peft_model, data["lora"], steps=100, lr=5e-3)
    peft_model.save_pretrained(cache / "lora")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
