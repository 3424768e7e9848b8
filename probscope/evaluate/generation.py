"""Generation backends: a registered loader returns a function that answers prompts k times each.

    from probscope.evaluate.generation import GENERATORS, SamplingSettings
    generate = GENERATORS.get("hf")("runs/sft/checkpoints/step-000100")
    texts = generate(["Compute 1 + 2 ?"], SamplingSettings(k=4, temperature=0.6, top_p=0.95), seed=0)
    # [[Generation(text=..., tokens=...), ... 4 of them]]

A backend is `load(model_path, **options) -> generate(prompts, settings, *, seed, on_batch=None)`; a new
one (e.g. vLLM on GPUs) is one `@GENERATORS.register("name")` function and nothing else changes. Prompts are
user turns: the backend renders them with the tokenizer's chat template when it has one, raw otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from probscope.devices import SMALL_MODEL_PARAMETERS
from probscope.registry import Registry


@dataclass(frozen=True)
class SamplingSettings:
    """How each problem is answered; an evaluation directory is finished only for the settings it was run with."""

    k: int = field(default=1, metadata={"help": "samples per problem (1: greedy decoding)"})
    temperature: float = field(default=0.6, metadata={"help": "sampling temperature (k > 1)"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass (k > 1)"})
    max_new_tokens: int = field(default=2048, metadata={"help": "generation budget per sample"})

    def __post_init__(self) -> None:
        from probscope.analysis.arguments import check_count, check_number

        check_count("k", self.k)
        check_number("temperature", self.temperature, low=0.0)
        check_number("top_p", self.top_p, low=0.0, high=1.0, low_open=True)
        check_count("max_new_tokens", self.max_new_tokens)

    @property
    def greedy(self) -> bool:
        return self.k == 1 or self.temperature <= 0

    def as_dict(self) -> dict:
        return asdict(self)


class Generation(NamedTuple):
    text: str       # decoded reply, special tokens dropped
    tokens: int     # generated tokens, the end token included


GenerateFn = Callable[..., list[list[Generation]]]
GENERATORS: Registry[Callable[..., GenerateFn]] = Registry("generation backend")


@GENERATORS.register("hf")
def load_hf(model_path: str | os.PathLike, *, device: str = "auto", dtype: str | None = None,
            batch_size: int = 256, threads: int | None = None) -> GenerateFn:
    """Hugging Face `generate`, batched (`batch_size` sequences per call) and left-padded.

    threads: torch's CPU threads while generating (restored after each call). None: one thread for a model
    under SMALL_MODEL_PARAMETERS on the CPU, else torch's default. A small model's matrix products are too
    small to split: with two threads on two cores that other processes also use, the threads mostly wait for
    each other (measured 13-17x slower than one thread for the built-in model, see probscope-bench grade)."""
    import torch

    from probscope.devices import resolve_device
    from probscope.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_path)          # pads with EOS when it has no pad token
    model = load_causal_lm(model_path, dtype).to(resolve_device(device))
    model.eval()
    if threads is None and model.device.type == "cpu" and model.num_parameters() < SMALL_MODEL_PARAMETERS:
        threads = 1
    tokenizer.padding_side = "left"      # generation continues from the right end of every row
    stop_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}

    def render(prompt: str) -> str:
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                 add_generation_prompt=True)
        return prompt

    def generate(prompts: Sequence[str], settings: SamplingSettings, *, seed: int = 0,
                 on_batch: Callable[[int, int], None] | None = None) -> list[list[Generation]]:
        texts = [render(p) for p in prompts]
        torch.manual_seed(seed)        # one seed per call: a resumed shard samples what it would have
        previous_threads = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            return _generate(texts, settings, on_batch)
        finally:
            torch.set_num_threads(previous_threads)

    def _generate(texts, settings, on_batch):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))   # similar lengths: little padding
        per_call = max(1, batch_size // settings.k)
        out: list[list[Generation]] = [[] for _ in texts]
        # top_k=0: nucleus sampling alone (transformers otherwise adds its default top_k=50)
        sampling = ({"do_sample": False} if settings.greedy else
                    {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p, "top_k": 0})
        for start in range(0, len(order), per_call):
            rows = order[start:start + per_call]
            batch = tokenizer([texts[i] for i in rows], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.inference_mode():
                generated = model.generate(
                    **batch, max_new_tokens=settings.max_new_tokens, num_return_sequences=settings.k,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                    use_cache=True, **sampling,     # a checkpoint saved with use_cache=false would recompute every prefix
                )[:, batch["input_ids"].shape[1]:]
            lengths = _lengths(generated, stop_ids)
            decoded = tokenizer.batch_decode(generated, skip_special_tokens=True)
            for j, (text, n) in enumerate(zip(decoded, lengths)):
                out[rows[j // settings.k]].append(Generation(text.strip(), n))
            if on_batch:
                on_batch(len(decoded), sum(lengths))
        return out

    return generate


def _lengths(generated, stop_ids: set[int]) -> list[int]:
    """Tokens each row generated up to and including its first stop token (all of them if none)."""
    import torch

    stops = torch.zeros_like(generated, dtype=torch.bool)
    for token in stop_ids:
        stops |= generated == token
    first = torch.where(stops.any(dim=1), stops.int().argmax(dim=1) + 1, generated.shape[1])
    return first.tolist()
