"""The built-in demo: task data -> tiny base model -> SFT, DFT, DPO, GRPO and PPO runs -> probe tables ->
evaluations -> dashboard.

Reasoning runs fine-tune the base on the arithmetic task: sft and dft on the demonstrations, dpo on pairs
rejection-sampled from the base, grpo and ppo online with the task's verifier as reward, on the prompts at
the base's competence frontier (pass rate of its samples in SAMPLING's pass_band). Facts runs (facts-sft,
facts-dft) fine-tune on new facts, the paper's stated limitation of DFT.

    probscope demo               # build what is missing under ./runs; the dashboard starts once base, SFT
                                 # and DFT are probed, and the RL runs appear in it as they finish
    probscope demo --no-serve    # build everything, then exit (scripts, CI)
    probscope demo --smoke       # the same pipeline in seconds (tiny task and model): checks an installation

Every stage is skipped when its output is already complete, so a killed demo resumes where it stopped.
The training settings live in the recipes probscope/builtin/recipes/*.yaml; this module only points them at
the runs directory and chains the stages.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from probscope.builtin.settings import SAMPLING
from probscope.errors import ProbscopeError
from probscope.runs import BUILTIN_DATA, Run

logger = logging.getLogger(__name__)

# The demo probes every checkpoint on this many training examples (all 8,000 take ~4x longer and
# give the same histogram shape); `probscope probe` probes any set in full.
DEMO_PROBE_EXAMPLES = 2000
# Run name (recipe probscope/builtin/recipes/<name>.yaml) -> the built-in splits its checkpoints are probed on.
# The probe dataset is named after the split ("train" is the default dataset everywhere). The base is
# probed on both, as Figure 2's "Base" bar of each comparison. Core runs are built first (the dashboard can
# start after them); the RL runs after.
CORE_RUNS: dict[str, tuple[str, ...]] = {
    "base": ("train", "facts-train"),
    "sft": ("train",),
    "dft": ("train",),
    "facts-sft": ("facts-train",),
    "facts-dft": ("facts-train",),
}
RL_RUNS: dict[str, tuple[str, ...]] = {"dpo": ("train",), "grpo": ("train",), "ppo": ("train",)}
DEMO_RUNS = {**CORE_RUNS, **RL_RUNS}
# Benchmark (probscope.evaluate) -> the runs whose every checkpoint the demo evaluates on it (greedy), so
# accuracy-vs-step curves exist out of the box.
DEMO_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "builtin-test-id": ("base", "sft", "dft", "dpo", "grpo", "ppo"),
    "builtin-test-hard": ("base", "sft", "dft", "dpo", "grpo", "ppo"),
    "builtin-facts-test": ("base", "facts-sft", "facts-dft"),
}
# DPO's pairs and GRPO's / PPO's frontier prompts: replies sampled from the base
# (probscope.builtin.settings.SAMPLING); dpo.yaml, grpo.yaml and ppo.yaml read them from here.
SAMPLES = Path("data") / "samples" / "base"
SAMPLED_DATA_RUNS = ("dpo", "grpo", "ppo")


def build_demo_runs(runs_root: str | Path, *, task=None, overrides: dict[str, dict[str, Any]] | None = None,
                    probe_examples: int = DEMO_PROBE_EXAMPLES, rl_runs: tuple[str, ...] = tuple(RL_RUNS)) -> list[Run]:
    """Build (or finish building) the built-in runs under `runs_root`; returns them.

    task: a probscope.builtin.task.TaskConfig (default: the standard task); overrides: recipe keys overridden
    per run name, e.g. {"base": {"max_steps": 3}} (see probscope.builtin.settings.smoke_settings); rl_runs: which
    RL runs to build.
    """
    from probscope.builtin.task import write_builtin_data

    start = time.time()
    runs_root = Path(runs_root)
    overrides = overrides or {}
    paths = write_builtin_data(runs_root / BUILTIN_DATA, task)
    core = _build_stage(runs_root, list(CORE_RUNS), paths, overrides, probe_examples)
    if any(name in SAMPLED_DATA_RUNS and "data" not in overrides.get(name, {}) for name in rl_runs):
        sample_preference_pairs(runs_root, paths, limit=SAMPLING["limit"] if task is None else None)
    rl = _build_stage(runs_root, list(rl_runs), paths, overrides, probe_examples)
    runs = core + rl
    logger.info(f"demo: {len(runs)} runs ({', '.join(run.name for run in runs)}) in {runs_root} "
                f"({time.time() - start:.0f}s)")
    return runs


def _build_stage(runs_root: Path, names: list[str], paths: dict[str, Path], overrides: dict[str, dict[str, Any]],
                 probe_examples: int) -> list[Run]:
    """Train, probe and evaluate the runs `names` (each step skipped when already complete)."""
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    stage_start = time.time()
    builtin = str(paths["train"].parent)   # a recipe override may name the built-in data directory: {builtin}
    runs = [train(builtin_recipe(name, runs_root), **{key: value.replace("{builtin}", builtin) if isinstance(value, str)
                                                      else value for key, value in overrides.get(name, {}).items()})
            for name in names]
    n_tokens = probe_demo_runs(runs, paths, probe_examples)
    n_evaluated = evaluate_demo_runs(runs_root, names)
    logger.info(f"demo: {', '.join(names)}: trained, {n_tokens:,} tokens probed, {n_evaluated} checkpoint "
                f"evaluations ({time.time() - stage_start:.0f}s)")
    return runs


def sample_preference_pairs(runs_root: Path, paths: dict[str, Path], limit: int | None) -> dict:
    """DPO's pairs and GRPO's / PPO's frontier prompts: replies sampled from the base's last checkpoint, verified
    (resumable; see probscope sample)."""
    from probscope.training.sampling import SampleConfig, sample

    base = Run(runs_root / "base")
    settings = {**SAMPLING, "limit": limit}
    return sample(SampleConfig(policy=str(base.checkpoint(base.checkpoint_steps()[-1])), data=str(paths["train"]),
                               out=str(runs_root / SAMPLES), **settings))


def probe_demo_runs(runs: list[Run], paths: dict[str, Path], n_examples: int) -> int:
    """Probe every checkpoint of every run on the first `n_examples` examples of its DEMO_RUNS splits."""
    from probscope.data import DataFormat, encode_file
    from probscope.models import load_tokenizer
    from probscope.probe import probe_checkpoint

    tokenizer = load_tokenizer(paths["tokenizer"])
    splits = {split for run in runs for split in DEMO_RUNS[run.name]}
    examples = {split: encode_file(paths[split], tokenizer, DataFormat(), limit=n_examples) for split in splits}
    n_tokens = 0
    for run in runs:
        for split in DEMO_RUNS[run.name]:
            for step in run.checkpoint_steps():
                summary = probe_checkpoint(
                    run.checkpoint(step), examples[split], run.probe_dir(step, split), run=run.name, step=step
                )
                logger.info(summary.line())
                n_tokens += summary.tokens
    return n_tokens


def evaluate_demo_runs(runs_root: Path, names: list[str]) -> int:
    """Evaluate every checkpoint of `names` on their DEMO_BENCHMARKS (finished evaluations are skipped)."""
    from probscope.evaluate import evaluate_runs

    results = []
    for benchmark, evaluated in DEMO_BENCHMARKS.items():
        chosen = [name for name in names if name in evaluated]
        if chosen:
            results += evaluate_runs(runs_root, benchmark, runs_filter=chosen)
    failed = [result for result in results if result.error]
    if failed:
        raise ProbscopeError(f"demo: {len(failed)} evaluations failed, e.g. {failed[0].line()}")
    return len(results)
