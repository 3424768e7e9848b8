"""Generation backends: a registered loader returns a function that answers prompts k times each.

    from probscope.evaluate.generation import GENERATORS, SamplingSettings
    generate = GENERATORS.get("hf")("runs/sft/checkpoints/step-000100")
    texts = generate(["Compute 1 + 2 ?"], SamplingSettings(k=4, temperature=0.6, top_p=0.95), seed=0)
    # [[Generation(text=..., tokens=...), ... 4 of them]]

    preset("paper", max_new_tokens=2048)   # the DFT paper's protocol: Average@16, temperature 1.0, top-p 1.0

A backend is `load(model_path, **options) -> generate(prompts, settings, *, seed, on_batch=None)`; a new
one (e.g. vLLM on GPUs, which takes prompts and SamplingSettings as they are) is one
`@GENERATORS.register("name")` function and nothing else changes. "hf" decodes through probscope.decoding
(the layer rejection sampling shares): static KV cache and compiled decoding on a GPU, plain on a CPU. Prompts are
user turns: the backend renders them with the tokenizer's chat template when it has one, raw otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from probscope.decoding import Decoding, generate_ids
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
        from probscope.checks import check_count, check_number

        check_count("k", self.k)
        check_number("temperature", self.temperature, low=0.0)
        check_number("top_p", self.top_p, low=0.0, high=1.0, low_open=True)
        check_count("max_new_tokens", self.max_new_tokens)

    @property
    def greedy(self) -> bool:
        return self.k == 1 or self.temperature <= 0

    def as_dict(self) -> dict:
        return asdict(self)


# Named sampling protocols. "paper": the DFT paper's evaluation, Average@16 at temperature 1.0 and top-p 1.0,
# with the benchmarks' own prompt template (benchmarks.STEP_BY_STEP, the DFT repo's) and generation budget.
PRESETS: dict[str, dict[str, float]] = {"paper": {"k": 16, "temperature": 1.0, "top_p": 1.0}}


def preset(name: str, **overrides) -> SamplingSettings:
    """The SamplingSettings of a named protocol (PRESETS), with `overrides` (e.g. max_new_tokens)."""
    from probscope.errors import ProbscopeError

    if name not in PRESETS:
        raise ProbscopeError(f"sampling preset {name!r}: use one of {', '.join(PRESETS)}")
    return SamplingSettings(**{**PRESETS[name], **overrides})


class Generation(NamedTuple):
    text: str       # decoded reply, special tokens dropped
    tokens: int     # generated tokens, the end token included


GenerateFn = Callable[..., list[list[Generation]]]
GENERATORS: Registry[Callable[..., GenerateFn]] = Registry("generation backend")


@GENERATORS.register("hf")
def load_hf(model_path: str | os.PathLike, *, device: str = "auto", dtype: str | None = None,
            batch_size: int = 256, threads: int | None = None, fast: bool | None = None) -> GenerateFn:
    """Hugging Face `generate` through probscope.decoding: length-bucketed batches (`batch_size` sequences per
    call), left-padded; `fast` (default: on CUDA) decodes with a static KV cache, compiled.

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
        prompts = tokenizer(texts, add_special_tokens=False)["input_ids"]
        temperature = 0.0 if settings.greedy else settings.temperature   # k == 1: greedy
        decoding = Decoding(settings.k, temperature, settings.top_p, settings.max_new_tokens)
        replies = generate_ids(model, prompts, decoding, pad_id=tokenizer.pad_token_id, stop_ids=stop_ids,
                               batch_size=max(1, batch_size // settings.k), fast=fast, on_batch=on_batch)
        return [[Generation(tokenizer.decode(reply, skip_special_tokens=True).strip(), len(reply)) for reply in row]
                for row in replies]

    return generate


