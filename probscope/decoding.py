"""Decoding with a Hugging Face causal LM, shared by evaluation and rejection sampling (token ids in and out).

    from probscope.decoding import Decoding, generate_ids
    replies = generate_ids(model, [[1, 5, 9], [1, 7]], Decoding(k=4, temperature=1.0, top_p=1.0),
                           pad_id=0, stop_ids={2})        # per prompt: k lists of generated ids

Prompts are sorted by length and cut into batches of `batch_size` prompts (x k sequences), so a batch holds
prompts of about one length: little padding (length-bucketed batches). On a GPU (`fast`, the default there)
each batch is left-padded to a multiple of PAD_MULTIPLE tokens and decoded with a static KV cache, which
transformers compiles (torch.compile of the decoding step, CUDA graphs): shapes repeat across batches, so the
compiled step is reused. On a CPU the same batches decode plainly with the dynamic cache. Greedy outputs equal
plain `generate` on each prompt alone either way (tests/evaluate/test_decoding.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

PAD_MULTIPLE = 64   # static-cache shapes: prompt widths rounded up to this, so compiled steps are reused


@dataclass(frozen=True)
class Decoding:
    """What to sample: k sequences per prompt, at most max_new_tokens each; temperature <= 0: greedy."""

    k: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def generate_kwargs(self) -> dict:
        # top_k=0: nucleus sampling alone (transformers otherwise adds its default top_k=50)
        return ({"do_sample": False} if self.greedy else
                {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0})


def generate_ids(model, prompts: Sequence[Sequence[int]], decoding: Decoding, *, pad_id: int, stop_ids: set[int],
                 batch_size: int = 64, fast: bool | None = None,
                 on_batch: Callable[[int, int], None] | None = None) -> list[list[list[int]]]:
    """Per prompt, `decoding.k` generated id lists, each cut after its first stop id. `fast`: static cache and
    compiled decoding (default: on CUDA). on_batch(sequences, generated tokens) after each batch."""
    import torch

    fast = model.device.type == "cuda" if fast is None else fast
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[list[int]]] = [[] for _ in prompts]
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        ids, attention = _left_padded([prompts[i] for i in rows], pad_id, PAD_MULTIPLE if fast else 1)
        extra = {"cache_implementation": "static"} if fast else {}
        with torch.inference_mode():
            generated = model.generate(
                input_ids=ids.to(model.device), attention_mask=attention.to(model.device),
                max_new_tokens=decoding.max_new_tokens, num_return_sequences=decoding.k, pad_token_id=pad_id,
                eos_token_id=sorted(stop_ids) or None, use_cache=True, **decoding.generate_kwargs(), **extra,
            )[:, ids.shape[1]:].cpu()
        replies = [_cut(row, stop_ids) for row in generated.tolist()]
        for j, reply in enumerate(replies):
            out[rows[j // decoding.k]].append(reply)
        if on_batch:
            on_batch(len(replies), sum(map(len, replies)))
    return out


def _left_padded(prompts: list[Sequence[int]], pad_id: int, multiple: int):
    """Input ids and attention mask, left-padded to the longest prompt rounded up to `multiple`."""
    import torch

    width = -(-max(map(len, prompts)) // multiple) * multiple
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, width - len(prompt):] = torch.tensor(list(prompt))
            attention[row, width - len(prompt):] = 1
    return ids, attention


def _cut(row: list[int], stop_ids: set[int]) -> list[int]:
    """Generated ids up to and including the first stop id (all of them if none)."""
    for i, token in enumerate(row):
        if token in stop_ids:
            return row[:i + 1]
    return row
