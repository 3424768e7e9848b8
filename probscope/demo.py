"""The built-in demo: task data -> tiny base model -> SFT and DFT runs -> probe tables -> dashboard.

Reasoning runs (sft, dft) fine-tune on the arithmetic demonstrations; facts runs (facts-sft, facts-dft)
on new facts, the paper's stated limitation of DFT.

    probscope demo               # build what is missing under ./runs, then serve the dashboard
    probscope demo --no-serve    # build only (scripts, CI)
    probscope demo --smoke       # the same pipeline in seconds (tiny task and model): checks an installation

Every stage is skipped when its output is already complete, so a killed demo resumes where it stopped.
The training settings live in the recipes probscope/builtin/recipes/*.yaml; this module only points them at the
runs directory and chains the stages.
"""

from __future__ import annotations

import time
from pathlib import Path

from probscope.builtin import recipe_path
from probscope.errors import ProbscopeError
from probscope.runs import BUILTIN_DATA, Run

# The demo probes every checkpoint on this many training examples (all 8,000 take ~4x longer and
# give the same histogram shape); `probscope probe` probes any set in full.
DEMO_PROBE_EXAMPLES = 2000
# Run name (recipe probscope/builtin/recipes/<name>.yaml) -> the built-in splits its checkpoints are probed on.
# The probe dataset is named after the split ("train" is the default dataset everywhere). The base is
# probed on both, as Figure 2's "Base" bar of each comparison.
DEMO_RUNS: dict[str, tuple[str, ...]] = {
    "base": ("train", "facts-train"),
    "sft": ("train",),
    "dft": ("train",),
    "facts-sft": ("facts-train",),
    "facts-dft": ("facts-train",),
}
# Benchmark (probscope.evaluate) -> the runs whose every checkpoint the demo evaluates on it (greedy), so
# accuracy-vs-step curves exist out of the box.
DEMO_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "builtin-test-id": ("base", "sft", "dft"),
    "builtin-test-hard": ("base", "sft", "dft"),
    "builtin-facts-test": ("base", "facts-sft", "facts-dft"),
}


# --smoke: every stage on a small task with a 1-layer model and 4 steps, so the whole pipeline runs in seconds.
SMOKE_TASK = {"n_train": 40, "n_test": 8, "n_old_people": 4, "n_new_people": 4, "n_pretrain_docs": 200}
SMOKE_MODEL = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
               "num_key_value_heads": 2, "max_position_embeddings": 256}
SMOKE_STEPS = ["--max_steps", "4", "--per_device_train_batch_size", "4", "--use_cpu", "true", "--disable_tqdm", "true"]
SMOKE_PROBE_EXAMPLES = 12


def smoke_settings():
    """(task, per-run recipe overrides, probe examples) of `probscope demo --smoke`."""
    import json

    from probscope.builtin.task import TaskConfig

    overrides = {name: ["--checkpoints", "0,2", *SMOKE_STEPS] for name in DEMO_RUNS if name != "base"}
    overrides["base"] = ["--model_config", json.dumps(SMOKE_MODEL), *SMOKE_STEPS]
    return TaskConfig(**SMOKE_TASK), overrides, SMOKE_PROBE_EXAMPLES


def builtin_recipe_args(name: str, runs_root: Path) -> list[str]:
    """The packaged recipe `<name>.yaml` with its built-in data and base model moved under `runs_root`."""
    from probscope.builtin.task import TOKENIZER_DIR
    from probscope.training.config import load_recipe_file

    path = Path(str(recipe_path(name)))
    recipe = load_recipe_file(path)
    data = runs_root / BUILTIN_DATA
    args = [str(path), "--runs_root", str(runs_root), "--data", str(data / Path(recipe["data"]).name)]
    if "tokenizer" in recipe:
        args += ["--tokenizer", str(data / TOKENIZER_DIR)]
    if "model" in recipe:       # fine-tunes start from the base run's last checkpoint
        base = Run(runs_root / "base")
        args += ["--model", str(base.checkpoint(base.checkpoint_steps()[-1]))]
    return args


def build_demo_runs(runs_root: str | Path, *, task=None, overrides: dict[str, list[str]] | None = None,
                    probe_examples: int = DEMO_PROBE_EXAMPLES) -> list[Run]:
    """Build (or finish building) the built-in runs under `runs_root`; returns them.

    task: a probscope.builtin.task.TaskConfig (default: the standard task); overrides: extra recipe flags
    per run name, e.g. {"base": ["--max_steps", "3"]} (the tests build a tiny demo this way).
    """
    from probscope.builtin.task import write_builtin_data
    from probscope.training import run as training

    start = time.time()
    runs_root = Path(runs_root)
    overrides = overrides or {}
    paths = write_builtin_data(runs_root / BUILTIN_DATA, task)
    runs = [training.main(builtin_recipe_args(name, runs_root) + overrides.get(name, [])) for name in DEMO_RUNS]
    n_tokens = probe_demo_runs(runs, paths, probe_examples)
    n_evaluated = evaluate_demo_runs(runs_root)
    print(f"demo: {len(runs)} runs, {n_tokens:,} probed tokens, {n_evaluated} checkpoint evaluations in {runs_root} "
          f"({time.time() - start:.0f}s)")
    return runs


def probe_demo_runs(runs: list[Run], paths: dict[str, Path], n_examples: int) -> int:
    """Probe every checkpoint of every run on the first `n_examples` examples of its DEMO_RUNS splits."""
    from probscope.data import DataFormat, encode_file
    from probscope.models import load_tokenizer
    from probscope.probe import probe_checkpoint

    tokenizer = load_tokenizer(paths["tokenizer"])
    splits = {split for name in DEMO_RUNS for split in DEMO_RUNS[name]}
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


def evaluate_demo_runs(runs_root: Path) -> int:
    """Evaluate every checkpoint of the DEMO_BENCHMARKS runs (finished evaluations are skipped); the count."""
    from probscope.evaluate import evaluate_runs

    results = [result for benchmark, names in DEMO_BENCHMARKS.items()
               for result in evaluate_runs(runs_root, benchmark, runs_filter=names)]
    failed = [result for result in results if result.error]
    if failed:
        raise ProbscopeError(f"demo: {len(failed)} evaluations failed, e.g. {failed[0].line()}")
    return len(results)
