"""Tiny models, random examples and the independent reference for the probe tests.

The reference runs each example alone through the model's own forward (full logits, no padding, no
chunking) and computes every column from a float64 log_softmax over the whole vocabulary.
"""

from __future__ import annotations

import random

import torch

from probscope import schema
from probscope.data import EncodedExample


def tiny_llama(vocab_size: int = 300, context: int = 2048, seed: int = 0, **overrides):
    """A random LlamaForCausalLM with wide logits (std ~7) so that p spans many decades and near-ties
    between logits, which would make ranks fragile, are rare."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context,
                         initializer_range=0.3, **overrides)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)
    return model


def word_tokenizer(vocab_size: int = 300):
    """A word-level tokenizer over "w1" ... "w{vocab_size-1}" (id 0 is [UNK])."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"[UNK]": 0, **{f"w{i}": i for i in range(1, vocab_size)}}
    backend = Tokenizer(models.WordLevel(vocab=words, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def save_checkpoint(path, vocab_size: int = 300):
    """A tiny_llama and its word tokenizer saved with save_pretrained at `path`; returns the model."""
    model = tiny_llama(vocab_size)
    model.save_pretrained(path)
    word_tokenizer(vocab_size).save_pretrained(path)
    return model


def random_examples(n: int, vocab_size: int, seed: int = 0, lengths=(4, 40), with_roles: bool = True):
    """SFT-shaped examples: a prompt (not targets) then a reply (targets), roles on the reply."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        length = rng.randint(*lengths)
        prompt = rng.randint(1, length - 1)
        ids = [rng.randrange(vocab_size) for _ in range(length)]
        roles = [None] * prompt + [rng.choice(schema.ROLES) for _ in range(length - prompt)] if with_roles else None
        examples.append(EncodedExample(f"ex{i:03d}", ids, [j >= prompt for j in range(length)], roles))
    return examples


def greedy_examples(model, n: int, seed: int = 0, prompt=(2, 8), reply=(2, 10)):
    """Examples whose replies are the model's own greedy continuations: targets of rank 1 and high p."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        ids = [rng.randrange(model.config.vocab_size) for _ in range(rng.randint(*prompt))]
        with torch.no_grad():
            for _ in range(rng.randint(*reply)):
                ids.append(int(model(input_ids=torch.tensor([ids], device=model.device)).logits[0, -1].argmax()))
        examples.append(EncodedExample(f"greedy{i:03d}", ids, [j >= len(ids) - 1 - i % 3 for j in range(len(ids))], None))
    return examples


def reference_rows(model, examples) -> dict[tuple[str, int], dict]:
    """(example id, position) -> every statistic column, from the full float64 distribution."""
    rows = {}
    with torch.no_grad():
        for ex in examples:
            ids = torch.tensor([ex.input_ids], device=model.device)
            logits = model(input_ids=ids).logits[0].double()
            logprobs = logits.log_softmax(-1)
            for pos in range(1, len(ex.input_ids)):
                if not ex.target_mask[pos]:
                    continue
                z, lp, target = logits[pos - 1], logprobs[pos - 1], ex.input_ids[pos]
                rank = int((z > z[target]).sum()) + 1
                rows[(ex.example_id, pos)] = {
                    schema.TOKEN_ID: target,
                    schema.P: float(lp[target].exp()),
                    schema.LOGP: float(lp[target]),
                    schema.ENTROPY: float(-(lp.exp() * lp).sum()),
                    schema.RANK: rank,
                    schema.IS_TOP1: rank == 1,
                    schema.SUM_P2: float((lp.exp() ** 2).sum()),
                    schema.ROLE: ex.roles[pos] if ex.roles is not None else None,
                }
    return rows
