"""A random one-layer Llama with a byte-level BPE tokenizer trained on given text (no downloads).

For tests that need a real transformers model and tokenizer but nothing of what it says: the
trainer's tests and the fidelity bench's. Needs the train extra (torch, transformers, tokenizers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def tiny_llama(texts: Sequence[str], *, vocab_size: int, max_positions: int) -> tuple[Any, Any]:
    """(model, tokenizer): the tokenizer trained on `texts`, the model's weights random (seed 0)."""
    import torch  # noqa: PLC0415
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: PLC0415

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=16,
        vocab_size=tok.get_vocab_size(),
        max_position_embeddings=max_positions,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config), tokenizer
