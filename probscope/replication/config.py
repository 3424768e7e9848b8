"""What the built-in replication runs: one dataclass, parsed from CLI flags (`probscope replicate --help`).

List settings are lists (the CLI's comma-separated values are parsed here, so a config built in Python is
checked the same way). The defaults are the published run (results/): eight seeds, the operand-shift task,
a gentle fine-tune, every registered method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from probscope.errors import ProbscopeError


def _all_methods() -> list[str]:
    from probscope.replication.methods import METHODS

    return list(METHODS)


@dataclass
class ReplicationConfig:
    runs_root: str = field(default="runs/replicate", metadata={"help": "where the runs, probes and evaluations go"})
    results: str = field(default="results", metadata={"help": "where the figures and RESULTS.md are written"})
    # eight bases in the gate: the exact sign-flip test of a primary comparison cannot go below 2/2^n (0.0625 at
    # five seeds, 0.0078 at eight, which Holm over the primary endpoints needs). Nine seeds: seed 4's base is over
    # the window (test-shift 92.5%), the other eight are inside it
    seeds: list[int] = field(default_factory=lambda: list(range(9)), metadata={
        "help": "training seeds, comma-separated (one base per seed)"})
    # The base: competence after a fixed number of steps varies between seeds, so every seed's base is gated on
    # both splits and, when under the window, pretrained again for longer (gate_growth).
    base_steps: int = field(default=800, metadata={"help": "pretraining steps of a seed's first base"})
    gate_id_min: float = field(default=0.5, metadata={
        "help": "builtin-test-id accuracy a base needs before anything is fine-tuned from it"})
    # 20%, not 30%: measured over 13 seeds, the 800-step bases reach test-shift 22.5-52.5% (one 92.5%) and a base
    # pretrained 1.25x longer jumps to 65-90%; at 30% five seeds needed a longer base (two then overshot), at 20% every
    # used base has the same pretraining budget and 70-80 points of held-out headroom
    gate_shift_min: float = field(default=0.2, metadata={
        "help": "lowest builtin-test-shift accuracy of a usable base (below: nothing held out to keep)"})
    gate_shift_max: float = field(default=0.7, metadata={
        "help": "highest builtin-test-shift accuracy of a usable base (above: no headroom to gain)"})
    gate_attempts: int = field(default=3, metadata={
        "help": "bases tried per seed (each pretrains gate_growth times as long as the one before; a base above "
                "the held-out window ends the tries: a longer one would only know more)"})
    # measured on task version 2, seed 1: 800 steps gave test-shift 29.5% (under the window), 1,600 steps 92%
    # (over it): doubling jumps across the window
    gate_growth: float = field(default=1.25, metadata={
        "help": "how much longer each further base of a seed pretrains (> 1)"})
    # The fine-tune, chosen on builtin-test-id of seed 0 by a rule fixed beforehand: the largest learning rate of
    # {1e-5, 3e-5, 1e-4, 3e-4} at which SFT (the baseline) ends within 5 points of its base in distribution.
    # Measured (task version 2, 100 steps): SFT 1e-5 -> 97.5% (base 100%), 3e-5 -> 82.5%; at 1e-4 and 3e-4 x 200
    # steps 24.5% and 22%. The higher rates stay in the sweep below (sweep_seeds seeds).
    finetune_lr: float = field(default=1e-5, metadata={"help": "learning rate of the SFT-family fine-tunes"})
    finetune_steps: int = field(default=100, metadata={
        "help": "optimizer steps of the SFT-family fine-tunes (100 x 32 = 0.4 epoch of the 8,000 demonstrations)"})
    checkpoints: list[int] = field(default_factory=lambda: [0, 10, 25, 50, 100], metadata={
        "help": "steps saved (and evaluated: the learning curves) in every fine-tune, comma-separated"})
    lr_sweep: list[float] = field(default_factory=lambda: [3e-5, 1e-4], metadata={
        "help": "further learning rates for the sweep methods, comma-separated, same steps and checkpoints (runs "
                "<method>-lr<lr>-s<seed>)"})
    sweep_methods: list[str] = field(default_factory=lambda: ["sft", "dft"], metadata={
        "help": "methods fine-tuned at every lr of lr_sweep, comma-separated"})
    # the sweeps choose settings (on builtin-test-id of seed 0, the rule above); the comparisons are made at the
    # chosen ones on every seed. One seed: the hour make replicate has on two cores
    sweep_seeds: int = field(default=1, metadata={
        "help": "the learning-rate sweeps (lr_sweep, and the RL methods' sweep variants) run on the first this "
                "many seeds (0: all)"})
    methods: list[str] = field(default_factory=_all_methods, metadata={
        "help": "methods to run, comma-separated (probscope.replication.methods; default: every registered one)"})
    # 512 prompts x 4 samples: ~1,500 accepted replies and ~370 pairs from a version-2 base (its samples pass 62%
    # of the time at temperature 1); all 2,048 prompts took 4x as long for data the 100-step runs do not use up
    sample_prompts: int = field(default=512, metadata={
        "help": "training prompts rejection-sampled from each base (k = 4 replies each) for rft, dft-offline, dpo "
                "and the frontier prompts of grpo and ppo"})
    probe_examples: int = field(default=1000, metadata={"help": "training examples probed per final checkpoint"})
    train_max_operand: int = field(default=4, metadata={
        "help": "demonstrations use operands 0..this; the held-out split test-shift uses the operands above"})

    pretrain_demo_share: float = field(default=0.2, metadata={
        "help": "share of full demonstrations (operands 0-4, a share TaskConfig.pretrain_shift_share in 5-9) in the "
                "pretraining corpus; the demo's 0.1 gave a base whose competence depended on the seed (6% vs 100% in "
                "distribution, see BUILTIN-TASK-NOTES)"})

    # GRPO and PPO cost 4-10x an SFT run each (measured on one core beside another job: GRPO 145-170 s, PPO at
    # 200 steps x 128 completions ~400 s, DPO ~75 s, an SFT-family run ~40 s, a base 245 s)
    rl_seeds: int = field(default=3, metadata={
        "help": "dpo, grpo, ppo (and their sweep variants) run on the first this many seeds (0: all)"})
    workers: int = field(default=0, metadata={
        "help": "independent runs trained side by side, one process and one torch thread each (0: one per CPU "
                "core; 1: one after the other)"})

    readme: str = field(default="README.md", metadata={
        "help": "README whose marked block (<!-- results:begin --> ... <!-- results:end -->) the report rewrites "
                "from the results; empty: none (a --smoke run never writes it)"})

    smoke: bool = field(default=False, metadata={
        "help": "the same pipeline in seconds (the demo's smoke task and 1-layer model, a few steps, the first two "
                "seeds, no gate, no sampled-data methods): checks an installation, measures nothing"})

    def __post_init__(self) -> None:
        from probscope.replication.methods import METHODS
        from probscope.runs.writable import check_directory

        check_directory(self.runs_root, "runs_root")   # a file or an unwritable folder fails before any training
        check_directory(self.results, "results")
        self.seeds = parse_list("seeds", self.seeds, int, "integers")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ProbscopeError(f"seeds: expected distinct integers, got {self.seeds!r}")
        if self.smoke:   # two seeds still make every interval and paired difference
            self.seeds = self.seeds[:2]
        self.checkpoints = parse_list("checkpoints", self.checkpoints, int, "step numbers")
        self.lr_sweep = parse_list("lr_sweep", self.lr_sweep, float, "numbers")
        self.sweep_methods = parse_list("sweep_methods", self.sweep_methods, str, "method names")
        self.methods = parse_list("methods", self.methods, str, "method names")
        for name in (*self.methods, *self.sweep_methods):
            METHODS.get(name)   # unknown names fail here, with a suggestion
        for name in self.sweep_methods:
            if not METHODS.get(name).finetune:
                raise ProbscopeError(f"sweep_methods: {name} keeps its recipe's learning rate; "
                                     "sweep sft-family methods")
        if not 0 <= self.gate_shift_min <= self.gate_shift_max <= 1:
            raise ProbscopeError(f"gate_shift_min, gate_shift_max: expected 0 <= min <= max <= 1, got "
                                 f"{self.gate_shift_min:g} and {self.gate_shift_max:g}")
        if min(self.workers, self.sweep_seeds, self.rl_seeds) < 0:
            raise ProbscopeError(f"workers, sweep_seeds, rl_seeds: expected counts >= 0, got {self.workers}, "
                                 f"{self.sweep_seeds} and {self.rl_seeds}")
        if self.workers == 0:
            from probscope.parallel import default_workers

            self.workers = default_workers()
        if not self.gate_growth > 1:
            raise ProbscopeError(f"gate_growth: expected a factor > 1, got {self.gate_growth:g}")

    def gate_window(self) -> str:
        """The two-sided gate in words (RESULTS.md states it beside every base's numbers)."""
        return (f"builtin-test-id ≥ {self.gate_id_min:.0%} and {self.gate_shift_min:.0%} ≤ builtin-test-shift ≤ "
                f"{self.gate_shift_max:.0%}")

    def base_steps_of(self, attempt: int) -> int:
        """Pretraining steps of a seed's base number `attempt` (0: the first)."""
        return round(self.base_steps * self.gate_growth ** attempt)

    def passes_gate(self, test_id: float, test_shift: float) -> bool:
        return test_id >= self.gate_id_min and self.gate_shift_min <= test_shift <= self.gate_shift_max

    def sweep(self) -> list[tuple[str, float]]:
        """(method, learning rate) of every sweep run (the main lr is already covered by the methods)."""
        return [(name, lr) for lr in self.lr_sweep if lr != self.finetune_lr for name in self.sweep_methods]

    def sweeps_seed(self, seed: int) -> bool:
        """Whether the sweeps run on `seed` (one of the first sweep_seeds seeds)."""
        return not self.sweep_seeds or seed in self.seeds[:self.sweep_seeds]

    def sweep_of_seed(self, seed: int) -> list[tuple[str, float]]:
        return self.sweep() if self.sweeps_seed(seed) else []

    def methods_of_seed(self, seed: int) -> list[str]:
        """The methods run on `seed`: every method but the RL ones beyond the first rl_seeds seeds and the RL
        sweep variants beyond the sweep seeds."""
        from probscope.replication.methods import RL_METHODS, RL_SWEEP_VARIANTS

        rl_seed = not self.rl_seeds or seed in self.seeds[:self.rl_seeds]
        return [name for name in self.method_list() if (rl_seed or name not in RL_METHODS)
                and (self.sweeps_seed(seed) or name not in RL_SWEEP_VARIANTS)]

    def method_list(self) -> list[str]:
        from probscope.replication.methods import METHODS, PROMPTS_ONLY, RL_SWEEP_VARIANTS

        if self.smoke:   # a 4-step model's samples are never accepted: no data for rft, dft-offline, dpo
            return [name for name in self.methods if (not METHODS.get(name).sampled or METHODS.get(name).data in
                                                      PROMPTS_ONLY) and name not in RL_SWEEP_VARIANTS]
        return list(self.methods)

    def task(self):
        from probscope.builtin.task import TaskConfig

        if self.smoke:
            from probscope.builtin.settings import SMOKE_TASK

            return TaskConfig(**SMOKE_TASK, train_max_operand=self.train_max_operand)
        # the other kinds of pretraining documents keep their proportions
        steps, sentences, facts, demos = TaskConfig().pretrain_mix
        rest = (1 - self.pretrain_demo_share) / (steps + sentences + facts)
        mix = (steps * rest, sentences * rest, facts * rest, self.pretrain_demo_share)
        return TaskConfig(train_max_operand=self.train_max_operand, pretrain_mix=mix)


def parse_list(name: str, value: str | Sequence[Any], kind: Callable[[Any], Any], what: str) -> list:
    """A list setting from a list or the CLI's comma-separated text ("sft, dft," -> ["sft", "dft"]), each entry
    converted by `kind`; a bad entry is a one-line error naming the setting."""
    entries = [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else list(value)
    try:
        return [kind(entry) for entry in entries]
    except (TypeError, ValueError):
        raise ProbscopeError(f"{name}: expected comma-separated {what}, got {value!r}") from None
