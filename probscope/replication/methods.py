"""The methods the replication compares: each is a packaged recipe plus what it trains on and is measured on.

A new method is one `METHODS.add(...)`: the pipeline trains it for every seed from that seed's gated base,
probes its last checkpoint and evaluates every checkpoint on its benchmarks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from probscope.registry import Registry

IN_DISTRIBUTION = "builtin-test-id"   # unseen problems of the demonstrations' kind
HELD_OUT = "builtin-test-shift"       # the held-out operands: what "generalizes" is measured on
HELD_OUT_SPLIT = "test-shift"         # its data split: the reference replies probed for their log p
REASONING_BENCHMARKS = (IN_DISTRIBUTION, HELD_OUT)
FACTS_BENCHMARKS = ("builtin-facts-test",)


@dataclass(frozen=True)
class Method:
    name: str                 # the manifest's method; runs are named <name>-s<seed>
    recipe: str               # probscope/builtin/recipes/<recipe>.yaml
    overrides: dict[str, Any] = field(default_factory=dict)   # recipe keys this method sets
    data: str = "train"       # a built-in split, or "accepted" / "pairs": rejection samples from the seed's base
    probe_split: str = "train"
    benchmarks: tuple[str, ...] = REASONING_BENCHMARKS
    finetune: bool = True     # takes the replication's fine-tuning lr, steps and checkpoints (the SFT family)


METHODS: Registry[Method] = Registry("replication method")
for _method in (
    Method("sft", "sft"),
    Method("dft", "dft"),
    # the paper's Table 8: the probability weight per token (dft), per reply, or the reply's geometric mean
    Method("dft-sentence", "dft", {"objective": "dft-sentence", "method": "dft-sentence"}),
    Method("dft-geometric", "dft", {"objective": "dft-geometric", "method": "dft-geometric"}),
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


# the one place for the run names of a replication (parse_run_name reads back what run_name writes)
_RUN_NAME = re.compile(r"^(?P<method>.+?)(-lr(?P<lr>[0-9.e+-]+))?-s(?P<seed>\d+)$")


def run_name(method: str, seed: int, lr: float | None = None) -> str:
    """<method>-s<seed>; a learning-rate sweep run: <method>-lr<lr>-s<seed>."""
    return f"{method}-s{seed}" if lr is None else f"{method}-lr{lr:g}-s{seed}"


def base_run_name(seed: int, attempt: int) -> str:
    """base-s<seed>; the later bases of a seed that failed the gate: base-s<seed>-x2, -x4, ..."""
    return run_name("base", seed) + (f"-x{2 ** attempt}" if attempt else "")


def parse_run_name(name: str) -> tuple[str, int, float | None] | None:
    """(method, seed, lr or None) of a name run_name wrote; None for any other name (bases included)."""
    match = _RUN_NAME.match(name)
    if match is None:
        return None
    return match["method"], int(match["seed"]), None if match["lr"] is None else float(match["lr"])
