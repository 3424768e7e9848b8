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
    probscope demo --check       # do the probe tables hold Figure 2's six methods (base, sft, dft, dpo, grpo, ppo)?

Runs that do not depend on each other are built side by side (probscope.parallel, one torch thread per worker
process): after the base, its probes, the sampling and the four fine-tunes; DPO, GRPO and PPO queued behind them
as soon as the sampling is done.
Each job trains, probes and evaluates one run; every stage resumes where a kill stopped it.

Every stage is skipped when its output is already complete, so a killed demo resumes where it stopped.
The training settings live in the recipes probscope/builtin/recipes/*.yaml; this module only points them at
the runs directory and chains the stages.
"""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path
from typing import Any

from probscope.builtin.settings import SAMPLING
from probscope.errors import ProbscopeError
from probscope.parallel import Job, default_workers, side_by_side
from probscope.runs import BUILTIN_DATA, Run
from probscope.schema import METHOD, METHOD_ORDER

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
# Figure 2's methods, each a demo run probed on the training split: what `probscope demo --check` asks of the runs
FIGURE2_METHODS = tuple(method for method in METHOD_ORDER if "train" in DEMO_RUNS.get(method, ()))
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
                    probe_examples: int = DEMO_PROBE_EXAMPLES, rl_runs: tuple[str, ...] = tuple(RL_RUNS),
                    sample_prompts: int = SAMPLING["limit"], workers: int | None = None) -> list[Run]:
    """Build (or finish building) the built-in runs under `runs_root`; returns them.

    task: a probscope.builtin.task.TaskConfig (default: the standard task); overrides: recipe keys overridden
    per run name, e.g. {"base": {"max_steps": 3}} (see probscope.builtin.settings.smoke_settings); rl_runs: which
    RL runs to build; sample_prompts: training prompts rejection-sampled from the base (a custom task: all);
    workers: runs built side by side, each in its own one-thread process (default: one per
    core; 1 builds them one after the other in this process).
    """
    from probscope.builtin.task import write_builtin_data
    from probscope.checks import check_count

    check_count("workers", workers, optional=True)
    start = time.time()
    runs_root = Path(runs_root)
    overrides = overrides or {}
    workers = default_workers() if workers is None else workers
    paths = write_builtin_data(runs_root / BUILTIN_DATA, task)
    base = train_demo_run(runs_root, "base", paths, overrides)     # alone: every other run starts from it
    core: list[Job] = [(finish_demo_run, (base, paths, probe_examples))]
    core += [(build_demo_run, (runs_root, name, paths, overrides, probe_examples)) for name in CORE_RUNS
             if name != "base"]
    rl: list[Job] = [(build_demo_run, (runs_root, name, paths, overrides, probe_examples)) for name in rl_runs]
    sampling: list[Job] = []
    if any(name in SAMPLED_DATA_RUNS and "data" not in overrides.get(name, {}) for name in rl_runs):
        sampling = [(sample_preference_pairs, (runs_root, paths, sample_prompts if task is None else None))]
    # one worker: the fine-tunes first (the dashboard can show them sooner), then the sampling; more: the
    # sampling first, and the RL runs queued as soon as it is done, behind the fine-tunes, not after them
    jobs = (core + sampling if workers == 1 else sampling + core) if sampling else core + rl
    sampling_index = len(core) if workers == 1 else 0

    def after_sampling(index: int, result: Any) -> list[Job]:
        return rl if sampling and index == sampling_index else []

    built = side_by_side(jobs, workers, desc="demo: runs", on_result=_log_built(len(core) + len(sampling) + len(rl)),
                         then=after_sampling)
    runs = [run for run in built if isinstance(run, Run)]
    logger.info(f"demo: {len(runs)} runs ({', '.join(run.name for run in runs)}) in {runs_root} "
                f"({time.time() - start:.0f}s, {workers} worker{'s' if workers > 1 else ''})")
    return runs


def train_demo_run(runs_root: Path, name: str, paths: dict[str, Path], overrides: dict[str, dict[str, Any]]) -> Run:
    """Train the demo's run `name` (its packaged recipe with the run's `overrides`; skipped when finished)."""
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    builtin = str(paths["train"].parent)   # a recipe override may name the built-in data directory: {builtin}
    return train(builtin_recipe(name, runs_root), **{key: value.replace("{builtin}", builtin)
                                                     if isinstance(value, str) else value
                                                     for key, value in overrides.get(name, {}).items()})


def finish_demo_run(run: Run, paths: dict[str, Path], probe_examples: int) -> Run:
    """Probe and evaluate every checkpoint of the trained `run` (each step skipped when already complete)."""
    _report_in_worker()
    stage_start = time.time()
    n_tokens = probe_demo_runs([run], paths, probe_examples)
    n_evaluated = evaluate_demo_runs(run.root.parent, [run.name])
    logger.info(f"demo: {run.name}: {n_tokens:,} tokens probed, {n_evaluated} checkpoint evaluations "
                f"({time.time() - stage_start:.0f}s)")
    return run


def build_demo_run(runs_root: Path, name: str, paths: dict[str, Path], overrides: dict[str, dict[str, Any]],
                   probe_examples: int) -> Run:
    """Train, probe and evaluate the demo's run `name`: one job of build_demo_runs, resumable at every stage."""
    _report_in_worker()
    return finish_demo_run(train_demo_run(runs_root, name, paths, overrides), paths, probe_examples)


def _log_built(total: int):
    start = time.time()
    done = []

    def log(index: int, result: Any) -> None:
        done.append(index)
        what = result.name if isinstance(result, Run) else "sampling from the base"
        logger.info(f"demo: {what} done ({time.time() - start:.0f}s after the base, {len(done)} of {total})")
    return log


def _report_in_worker() -> None:
    """In a worker process, report through logging as the `probscope` command does (spawned workers start
    without its handler, so the library's lines would be lost)."""
    import multiprocessing

    probscope_logger = logging.getLogger("probscope")
    if multiprocessing.parent_process() is not None and not probscope_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        probscope_logger.addHandler(handler)
        probscope_logger.setLevel(logging.INFO)


def sample_preference_pairs(runs_root: Path, paths: dict[str, Path], limit: int | None) -> dict:
    """DPO's pairs and GRPO's / PPO's frontier prompts: replies sampled from the base's last checkpoint, verified
    (resumable; see probscope sample)."""
    from probscope.training.sampling import SampleConfig, sample

    _report_in_worker()
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


def check_demo_probes(runs_root: str | Path) -> list[str]:
    """What keeps the demo's probe tables of the training split from holding FIGURE2_METHODS: one line per
    problem (a method no run's table holds, a checkpoint left unprobed); empty when Figure 2 is whole. The
    methods are read from the tables as the analyses load them, not from the directory names."""
    from probscope.analysis import load_tokens
    from probscope.runs import discover_runs

    problems = []
    probed = []
    for run in discover_runs(runs_root):
        finished = run.probed_steps("train")
        if finished:
            probed.append(run.name)
        unprobed = sorted(set(run.checkpoint_steps()) - set(finished)) if "train" in run.probe_datasets() else []
        if unprobed:
            problems.append(f"{run.root}: checkpoint steps {', '.join(map(str, unprobed))} not probed on train")
    held = set()
    if probed:
        tokens = load_tokens(runs_root, runs=probed, steps="last", lazy=True)
        held = set(tokens.select(METHOD).unique().collect()[METHOD].to_list())
    problems += [f"{runs_root}: no probe table of the training split holds method {method!r} (build it with "
                 f"`probscope demo --no-serve --runs {shlex.quote(str(runs_root))}`)"
                 for method in FIGURE2_METHODS if method not in held]
    return problems
