"""Tiny models, tokenizers and datasets built in milliseconds, for probscope's tests and benchmarks (and
yours): nothing is downloaded.

    from probscope.testing import random_sft_dataset, tiny_llama, word_tokenizer
    tokenizer = word_tokenizer("/tmp/tok")
    model = tiny_llama(tokenizer, 64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4)
"""

from __future__ import annotations

from pathlib import Path


def word_tokenizer(out_dir: str | Path):
    """A small word-level tokenizer with pad/eos (SFTTrainer needs one; the data is pre-tokenized)."""
    from probscope.builtin.tokenizer import build_tokenizer

    return build_tokenizer([" ".join(f"w{i}" for i in range(32))], out_dir)


def tiny_llama(tokenizer, vocab_size: int, seed: int = 0, **shape):
    """A randomly initialized LlamaForCausalLM (float32) of the given shape."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **shape)
    return LlamaForCausalLM(config)


def random_sft_dataset(n: int, vocab_size: int, lengths: tuple[int, int], prompts: tuple[int, int], seed: int = 0):
    """`n` pre-tokenized examples: ids drawn from [4, vocab), length and prompt length uniform in the ranges."""
    import random

    from datasets import Dataset

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ids = [rng.randrange(4, vocab_size) for _ in range(rng.randint(*lengths))]
        prompt = rng.randint(*prompts)
        rows.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return Dataset.from_list(rows)
