"""The methods the replication compares: each is a packaged recipe plus what it trains on and is measured on.

A new method is one `METHODS.add(...)`: the pipeline trains it for every seed from that seed's gated base,
probes its last checkpoint and evaluates every checkpoint on its benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

from probscope.registry import Registry

REASONING_BENCHMARKS = ("builtin-test-id", "builtin-test-shift")
FACTS_BENCHMARKS = ("builtin-facts-test",)


@dataclass(frozen=True)
class Method:
    name: str                 # the manifest's method; runs are named <name>-s<seed>
    recipe: str               # probscope/builtin/recipes/<recipe>.yaml
    flags: tuple[str, ...] = ()
    data: str = "train"       # a built-in split, or "accepted" / "pairs": rejection samples from the seed's base
    probe_split: str = "train"
    benchmarks: tuple[str, ...] = REASONING_BENCHMARKS
    finetune: bool = True     # takes the replication's fine-tuning lr, steps and checkpoints (the SFT family)


METHODS: Registry[Method] = Registry("replication method")
for _method in (
    Method("sft", "sft"),
    Method("dft", "dft"),
    # the paper's Table 8: the probability weight per token (dft), per reply, or the reply's geometric mean
    Method("dft-sentence", "dft", ("--objective", "dft-sentence", "--method", "dft-sentence")),
    Method("dft-geometric", "dft", ("--objective", "dft-geometric", "--method", "dft-geometric")),
    # offline RL: fine-tunes on the base's own verified samples
    Method("rft", "rft", data="accepted"),
    Method("dft-offline", "dft-offline", data="accepted"),
    # preference and online RL keep their recipes' own learning rates and lengths
    Method("dpo", "dpo", data="pairs", finetune=False),
    Method("grpo", "grpo", finetune=False),
    # the paper's stated limitation: new facts, which the base finds unlikely
    Method("facts-sft", "facts-sft", data="facts-train", probe_split="facts-train", benchmarks=FACTS_BENCHMARKS,
           finetune=False),
    Method("facts-dft", "facts-dft", data="facts-train", probe_split="facts-train", benchmarks=FACTS_BENCHMARKS,
           finetune=False),
):
    METHODS.add(_method.name, _method)


def run_name(method: str, seed: int, lr: float | None = None) -> str:
    """<method>-s<seed>; a learning-rate sweep run: <method>-lr<lr>-s<seed>."""
    return f"{method}-s{seed}" if lr is None else f"{method}-lr{lr:g}-s{seed}"
