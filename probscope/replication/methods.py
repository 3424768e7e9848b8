"""The methods the replication compares: each is a packaged recipe plus what it trains on and is measured on.

A new method is one `METHODS.add(...)`: the pipeline trains it for every seed from that seed's gated base,
probes its last checkpoint and evaluates every checkpoint on its benchmarks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from probscope.registry import Registry
from probscope.training.sampling import ACCEPTED, FRONTIER, PAIRS

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
    data: str = "train"       # a built-in split, or one of SAMPLED_DATA: rejection samples from the seed's base
    probe_split: str = "train"
    benchmarks: tuple[str, ...] = REASONING_BENCHMARKS
    finetune: bool = True     # takes the replication's fine-tuning lr, steps and checkpoints (the SFT family)

    @property
    def sampled(self) -> bool:
        """Whether it trains on rejection samples of its seed's base (they are drawn before it starts)."""
        return self.data in SAMPLED_DATA


# Method.data values that name rejection samples of the seed's base (probscope sample), each with its file in the
# seed's samples folder: the verified replies (RFT, offline DFT), the preference pairs (DPO), the prompts at the
# competence frontier (GRPO, PPO)
SAMPLED_DATA = {"accepted": ACCEPTED, "pairs": PAIRS, "frontier": FRONTIER}
# the sampled data that is prompts only: a --smoke run (its 4-step base has no frontier) trains on the training
# split's prompts instead; replies and pairs have no such stand-in, so their methods sit out a smoke run
PROMPTS_ONLY = ("frontier",)


def rl_lr_variant(method: Method, lr: float) -> Method:
    """`method` at learning rate `lr` (its recipe's steps): a method of its own, labelled <name>-<lr>."""
    name = f"{method.name}-{lr:.0e}".replace("e-0", "e-")      # dpo-2e-4
    return replace(method, name=name, overrides={**method.overrides, "learning_rate": lr, "method": name})


GROUPS_OF_16 = {"num_generations": 16, "per_device_train_batch_size": 128}   # 8 prompts x 16
GROUPS_OF_8 = {"num_generations": 8, "per_device_train_batch_size": 128}     # 16 prompts x 8
# measured on the demo base (README): DPO at 2e-4 fell to 40% in distribution, 2e-5 kept 100%; GRPO and PPO lost
# reward at 2e-4 and 5e-4, held it at 1e-4 (the recipes' rates)
RL_SWEEP_DPO = (2e-4,)
RL_SWEEP_ONLINE = (2e-4,)
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
    # preference and online RL keep their recipes' own learning rates and lengths. GRPO and PPO train on the
    # prompts at the base's competence frontier (pass rate of its 4 samples in SAMPLING's band): on the whole
    # training split (the landed version) GRPO's reward did not rise on any of 3 seeds, the groups of a base
    # that solves 95% of it carrying no signal half of the time; on the frontier seed 3's rose (README)
    Method("dpo", "dpo", data="pairs", finetune=False),
    Method("grpo", "grpo", GROUPS_OF_16, data="frontier", finetune=False),
    # PPO: 16 prompts x 8 samples a batch, two PPO epochs (optimizer steps) on each, 200 steps: the 100 sampled
    # batches GRPO gets. At 16 x 4 (the cold run of December 2026) 54% of its groups had no reward spread; a group
    # of 8 at the frontier's pass rates (q ~ 0.6-0.85) is uniform with probability q^8 + (1-q)^8, ~17% at q = 0.8.
    # At 100 steps (50 batches) its reward rose on every seed, with an interval above 0 on 1 of 3 (README)
    Method("ppo", "ppo", {**GROUPS_OF_8, "max_steps": 200, "checkpoints": "0,20,50,100,200"}, data="frontier",
           finetune=False),
    # the paper's stated limitation: new facts, which the base finds unlikely
    Method("facts-sft", "facts-sft", data="facts-train", probe_split="facts-train", benchmarks=FACTS_BENCHMARKS,
           finetune=False),
    Method("facts-dft", "facts-dft", data="facts-train", probe_split="facts-train", benchmarks=FACTS_BENCHMARKS,
           finetune=False),
):
    METHODS.add(_method.name, _method)
# The RL methods' learning-rate sweeps at their recipes' steps (matched updates), runs <method>-<lr>-s<seed>:
# the recipes' rates were chosen among these on the in-distribution split (builtin-test-id), never on test-shift.
# PPO has none (time: its runs cost the most); it keeps GRPO's rate
RL_SWEEP: dict[str, tuple[float, ...]] = {"dpo": RL_SWEEP_DPO, "grpo": RL_SWEEP_ONLINE}
RL_SWEEP_VARIANTS: set[str] = set()   # their names (--smoke leaves them out: a check, not a measurement)
for _name, _lrs in RL_SWEEP.items():
    for _lr in _lrs:
        _method = rl_lr_variant(METHODS.get(_name), _lr)
        METHODS.add(_method.name, _method)
        RL_SWEEP_VARIANTS.add(_method.name)


# the preference and online RL methods (their sweep variants included): the costliest runs of a seed
RL_METHODS: set[str] = {"dpo", "grpo", "ppo", *RL_SWEEP_VARIANTS}


# the one place for the run names of a replication (parse_run_name reads back what run_name writes)
_RUN_NAME = re.compile(r"^(?P<method>.+?)(-lr(?P<lr>[0-9.e+-]+))?-s(?P<seed>\d+)$")


def run_name(method: str, seed: int, lr: float | None = None) -> str:
    """<method>-s<seed>; a learning-rate sweep run: <method>-lr<lr>-s<seed>."""
    return f"{method}-s{seed}" if lr is None else f"{method}-lr{lr:g}-s{seed}"


def base_run_name(seed: int, attempt: int) -> str:
    """base-s<seed>; the later (longer) bases of a seed that failed the gate: base-s<seed>-try2, -try3, ..."""
    return run_name("base", seed) + (f"-try{attempt + 1}" if attempt else "")


def parse_run_name(name: str) -> tuple[str, int, float | None] | None:
    """(method, seed, lr or None) of a name run_name wrote; None for any other name (bases included)."""
    match = _RUN_NAME.match(name)
    if match is None:
        return None
    return match["method"], int(match["seed"]), None if match["lr"] is None else float(match["lr"])
