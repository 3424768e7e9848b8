"""The built-in demo: task data -> tiny base model -> SFT, DFT, DPO and GRPO runs -> probe tables ->
evaluations -> dashboard.

Reasoning runs fine-tune the base on the arithmetic task: sft and dft on the demonstrations, dpo on pairs
rejection-sampled from the base, grpo online with the task's verifier as reward. Facts runs (facts-sft,
facts-dft) fine-tune on new facts, the paper's stated limitation of DFT. PPO is missing: TRL 1.16 has no
PPO trainer (see the README).

    probscope demo               # build what is missing under ./runs; the dashboard starts once base, SFT
                                 # and DFT are probed, and the RL runs appear in it as they finish
    probscope demo --no-serve    # build everything, then exit (scripts, CI)
    probscope demo --smoke       # the same pipeline in seconds (tiny task and model): checks an installation

Every stage is skipped when its output is already complete, so a killed demo resumes where it stopped.
The training settings live in the recipes probscope/builtin/recipes/*.yaml; this module only points them at
the runs directory and chains the stages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from probscope.builtin import recipe_path
from probscope.errors import ProbscopeError
from probscope.runs import BUILTIN_DATA, Run

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
RL_RUNS: dict[str, tuple[str, ...]] = {"dpo": ("train",), "grpo": ("train",)}
DEMO_RUNS = {**CORE_RUNS, **RL_RUNS}
# Benchmark (probscope.evaluate) -> the runs whose every checkpoint the demo evaluates on it (greedy), so
# accuracy-vs-step curves exist out of the box.
DEMO_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "builtin-test-id": ("base", "sft", "dft", "dpo", "grpo"),
    "builtin-test-hard": ("base", "sft", "dft", "dpo", "grpo"),
    "builtin-facts-test": ("base", "facts-sft", "facts-dft"),
}
# DPO's pairs: k replies per training prompt sampled from the base, scored by the task's verifier
# (probscope sample); dpo.yaml reads them from here.
SAMPLES = Path("data") / "samples" / "base"
SAMPLING = {"reward": "builtin-reasoning", "k": 4, "limit": 2048, "max_new_tokens": 96}

# --smoke: every stage on a small task with a 1-layer model and 4 steps, so the whole pipeline runs in seconds.
# DPO is left out: its pairs need accepted samples, which a 4-step model never produces.
SMOKE_TASK = {"n_train": 40, "n_test": 8, "n_old_people": 4, "n_new_people": 4, "n_pretrain_docs": 200}
SMOKE_MODEL = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
               "num_key_value_heads": 2, "max_position_embeddings": 256}
SMOKE_STEPS = ["--max_steps", "4", "--per_device_train_batch_size", "4", "--use_cpu", "true", "--disable_tqdm", "true"]
SMOKE_GRPO = ["--max_steps", "2", "--num_generations", "2", "--per_device_train_batch_size", "4",
              "--max_completion_length", "8", "--use_cpu", "true", "--disable_tqdm", "true"]
SMOKE_PROBE_EXAMPLES = 12


def smoke_settings():
    """(task, per-run recipe overrides, probe examples, RL runs) of `probscope demo --smoke`."""
    from probscope.builtin.task import TaskConfig

    overrides = {name: ["--checkpoints", "0,2", *SMOKE_STEPS] for name in CORE_RUNS if name != "base"}
    overrides["base"] = ["--model_config", json.dumps(SMOKE_MODEL), *SMOKE_STEPS]
    overrides["grpo"] = ["--checkpoints", "0,1", *SMOKE_GRPO]
    return TaskConfig(**SMOKE_TASK), overrides, SMOKE_PROBE_EXAMPLES, ("grpo",)


def builtin_recipe_args(name: str, runs_root: Path, base: Run | None = None) -> list[str]:
    """The packaged recipe `<name>.yaml` with its paths (written for ./runs) moved under `runs_root`; a
    fine-tune starts from `base`'s last checkpoint (default: the run `base` under `runs_root`)."""
    from probscope.training.config import load_recipe_file

    path = Path(str(recipe_path(name)))
    recipe = load_recipe_file(path)
    args = [str(path), "--runs_root", str(runs_root)]
    for key in ("data", "tokenizer"):
        if key in recipe:
            args += [f"--{key}", str(runs_root / Path(recipe[key]).relative_to("runs"))]
    if "model" in recipe:       # fine-tunes start from the base run's last checkpoint, however long it trained
        base = base or Run(runs_root / "base")
        args += ["--model", str(base.checkpoint(base.checkpoint_steps()[-1]))]
    return args


def build_demo_runs(runs_root: str | Path, *, task=None, overrides: dict[str, list[str]] | None = None,
                    probe_examples: int = DEMO_PROBE_EXAMPLES, rl_runs: tuple[str, ...] = tuple(RL_RUNS),
                    after_core: Callable[[], None] | None = None) -> list[Run]:
    """Build (or finish building) the built-in runs under `runs_root`; returns them.

    task: a probscope.builtin.task.TaskConfig (default: the standard task); overrides: extra recipe flags
    per run name, e.g. {"base": ["--max_steps", "3"]}; rl_runs: which RL runs to build; after_core: called
    once the core runs are probed and evaluated (the demo starts the dashboard there).
    """
    from probscope.builtin.task import write_builtin_data

    start = time.time()
    runs_root = Path(runs_root)
    overrides = overrides or {}
    paths = write_builtin_data(runs_root / BUILTIN_DATA, task)
    core = _build_stage(runs_root, list(CORE_RUNS), paths, overrides, probe_examples)
    if after_core is not None:
        after_core()
    if "dpo" in rl_runs:
        sample_preference_pairs(runs_root, paths, limit=SAMPLING["limit"] if task is None else None)
    rl = _build_stage(runs_root, list(rl_runs), paths, overrides, probe_examples)
    runs = core + rl
    print(f"demo: {len(runs)} runs ({', '.join(run.name for run in runs)}) in {runs_root} "
          f"({time.time() - start:.0f}s)")
    return runs


def _build_stage(runs_root: Path, names: list[str], paths: dict[str, Path], overrides: dict[str, list[str]],
                 probe_examples: int) -> list[Run]:
    """Train, probe and evaluate the runs `names` (each step skipped when already complete)."""
    from probscope.training import run as training

    stage_start = time.time()
    runs = [training.main(builtin_recipe_args(name, runs_root) + overrides.get(name, [])) for name in names]
    n_tokens = probe_demo_runs(runs, paths, probe_examples)
    n_evaluated = evaluate_demo_runs(runs_root, names)
    print(f"demo: {', '.join(names)}: trained, {n_tokens:,} tokens probed, {n_evaluated} checkpoint "
          f"evaluations ({time.time() - stage_start:.0f}s)")
    return runs


def sample_preference_pairs(runs_root: Path, paths: dict[str, Path], limit: int | None) -> dict:
    """DPO's data: replies sampled from the base's last checkpoint, verified (resumable; see probscope sample)."""
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
                print(summary.line())
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
