"""The built-in replication: for every seed a gated base, then every method fine-tuned from it, probed on its
training data and evaluated at every checkpoint; then the tables and figures of results/.

    probscope replicate                          # = make replicate (resumable: rerun it after a kill)
    probscope replicate --seeds 0,1,2,3 --finetune_lr 3e-4 --runs_root runs/lr3e-4 --results results/lr3e-4

Layout under the runs root: data/builtin/ (the operand-shift task), one run per method and seed
(`<method>-s<seed>`, bases `base-s<seed>[-try2 ...]`), data/samples/base-s<seed>/ (the rejection samples of
RFT, offline DFT and DPO), and the gate record and stage timings of replication.layout.
Every stage is skipped when its output is complete, so a killed replication continues where it stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from probscope.errors import ProbscopeError
from probscope.replication.config import ReplicationConfig
from probscope.replication.layout import StageTimings, heldout_samples_dir, read_gate, samples_dir, write_gate
from probscope.replication.methods import (
    FACTS_BENCHMARKS,
    HELD_OUT,
    HELD_OUT_SPLIT,
    IN_DISTRIBUTION,
    METHODS,
    SAMPLED_DATA,
    Method,
    base_run_name,
    run_name,
)
from probscope.runs import BUILTIN_DATA, Run

logger = logging.getLogger(__name__)


def replicate(cfg: ReplicationConfig) -> Path:
    """Build (or finish building) every run of `cfg`, then write the results; returns the results directory.

    Independent jobs run side by side (cfg.workers processes): every seed's gated base (and its rejection
    samples), and every (seed, method) run from the seed's base, queued as soon as that base passed. The gate
    record and the stage timings are written here, as each job finishes, so a killed replication keeps what
    finished."""
    from probscope.builtin.task import write_builtin_data
    from probscope.replication.report import write_results

    root = Path(cfg.runs_root)
    paths = write_builtin_data(root / BUILTIN_DATA, cfg.task())
    timings = StageTimings(root)
    gate = read_gate(root)
    with timings("wall clock"):
        _build(cfg, root, paths, gate, timings)
    with timings("results"):
        out = write_results(cfg)
    logger.info(f"replicate: results in {out} (stage times in {timings.path})")
    return out


def _build(cfg: ReplicationConfig, root: Path, paths: dict[str, Path], gate: dict[str, list[dict]],
           timings: StageTimings) -> None:
    """Every seed's gated base, then each (seed, method) run as soon as its seed's base passed: one pool, so that
    no worker waits for the last base while the first seeds' runs could train."""
    from probscope.parallel import Job, side_by_side

    n_bases = len(cfg.seeds)

    def record(index: int, result: Any) -> None:
        if index < n_bases:
            gate[str(cfg.seeds[index])], seconds = result
            write_gate(root, gate)
        else:
            seconds = result
        timings.add(seconds)

    def runs_of_base(index: int, result: Any) -> list[Job]:
        if index >= n_bases:
            return []
        seed = cfg.seeds[index]
        base = _passed_base(root, result[0])
        if base is None:
            logger.info(f"replicate: seed {seed}: no base passed the gate ({cfg.gate_window()}); its methods "
                        "are skipped")
            return []
        return ([(build_timed_run, (cfg, root, paths, METHODS.get(name), base, seed, None))
                 for name in cfg.methods_of_seed(seed)]
                + [(build_timed_run, (cfg, root, paths, METHODS.get(name), base, seed, lr))
                   for name, lr in cfg.sweep_of_seed(seed)])

    side_by_side([(build_seed_base, (cfg, root, paths, seed, _trains_on_samples(cfg, seed))) for seed in cfg.seeds],
                 cfg.workers, desc="replicate: bases, then each seed's runs", on_result=record, then=runs_of_base)


def build_seed_base(cfg: ReplicationConfig, root: Path, paths: dict[str, Path], seed: int,
                    needs_samples: bool) -> tuple[list[dict], dict[str, float]]:
    """One job of the first phase: seed `seed`'s gated base and, when it passed and a method trains on them, its
    rejection samples; (the gate's attempts, seconds per stage)."""
    timings = StageTimings(None)
    with timings("base (pretraining + gate)"):
        attempts = gated_base(cfg, root, seed)
    base = _passed_base(root, attempts)
    if base is not None and needs_samples:
        with timings("rejection sampling"):
            _sample(root, paths, base, seed, cfg.sample_prompts)
            if any(METHODS.get(name).data == "pairs" for name in cfg.methods_of_seed(seed)):
                _sample_heldout_pairs(root, paths, base, seed)
    return attempts, timings.seconds


def _trains_on_samples(cfg: ReplicationConfig, seed: int) -> bool:
    return not cfg.smoke and any(METHODS.get(name).sampled for name in cfg.methods_of_seed(seed))


def build_timed_run(cfg: ReplicationConfig, root: Path, paths: dict[str, Path], method: Method, base: Run,
                    seed: int, lr: float | None) -> dict[str, float]:
    """One job of the second phase: build_method_run, timed (its stage: the method, or the sweep)."""
    timings = StageTimings(None)
    with timings(method.name if lr is None else "learning-rate sweep"):
        build_method_run(cfg, root, paths, method, base, seed, lr=lr)
    return timings.seconds


def gated_base(cfg: ReplicationConfig, root: Path, seed: int) -> list[dict]:
    """Pretrain seed `seed`'s base until one lies in the gate's window on both splits (each attempt gate_growth
    times as long; none after a base above the held-out window, which longer pretraining cannot lower); every
    attempt's record."""
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    attempts = []
    for attempt in range(cfg.gate_attempts):
        name, steps = base_run_name(seed, attempt), cfg.base_steps_of(attempt)
        settings = {"run_name": name, "seed": seed, "max_steps": steps, "disable_tqdm": True}
        run = train(builtin_recipe("base", root), **settings | _smoke_overrides(cfg, "base"))
        _probe(run, root, ("train", "facts-train"), _probe_examples(cfg))
        _probe(run, root, (HELD_OUT_SPLIT,), _probe_examples(cfg))   # the held-out log p of the base: the baseline
        accuracy = evaluate_run(root, run, (IN_DISTRIBUTION, HELD_OUT, *FACTS_BENCHMARKS))
        passed = cfg.passes_gate(accuracy[IN_DISTRIBUTION], accuracy[HELD_OUT]) or cfg.smoke
        attempts.append({"run": name, "steps": steps, IN_DISTRIBUTION: accuracy[IN_DISTRIBUTION],
                         HELD_OUT: accuracy[HELD_OUT], "passed": passed})
        if passed or accuracy[HELD_OUT] > cfg.gate_shift_max:
            break
    return attempts


def build_method_run(cfg: ReplicationConfig, root: Path, paths: dict[str, Path], method: Method, base: Run,
                     seed: int, lr: float | None = None) -> Run:
    """Train `method` from `base` with seed `seed` (at `lr`: a sweep run; default the replication's lr), probe its
    last checkpoint, evaluate all its checkpoints."""
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    settings = {**method.overrides, "run_name": run_name(method.name, seed, lr), "seed": seed,
                "data": str(_data(cfg, root, paths, method, base)), "disable_tqdm": True}
    if method.finetune:
        settings |= {"learning_rate": cfg.finetune_lr if lr is None else lr, "max_steps": cfg.finetune_steps,
                     "checkpoints": cfg.checkpoints}
    run = train(builtin_recipe(method.recipe, root, base), **settings | _smoke_overrides(cfg, method.recipe))
    # the held-out split's reference replies: their mean log p is the lower-variance endpoint beside accuracy
    splits = (method.probe_split, HELD_OUT_SPLIT) if HELD_OUT in method.benchmarks else (method.probe_split,)
    _probe(run, root, splits, _probe_examples(cfg), steps=run.checkpoint_steps()[-1:])
    evaluate_run(root, run, method.benchmarks)
    if method.data == "pairs":   # DPO's implicit reward on pairs of prompts it never trained on
        from probscope.evaluate.pairs import PairEvalConfig, evaluate_run_pairs

        pairs = heldout_samples_dir(root, base.name) / "pairs.jsonl"
        if pairs.is_file():
            evaluate_run_pairs(PairEvalConfig(run=str(run.root), pairs=str(pairs),
                                              steps=str(run.checkpoint_steps()[-1])))
    return run


def _smoke_overrides(cfg: ReplicationConfig, recipe: str) -> dict[str, Any]:
    """--smoke: the built-in smoke model and step counts (they win over the recipe and the settings above)."""
    from probscope.builtin.settings import smoke_overrides

    return smoke_overrides(recipe) if cfg.smoke else {}


def _probe_examples(cfg: ReplicationConfig) -> int:
    from probscope.builtin.settings import SMOKE_PROBE_EXAMPLES

    return min(cfg.probe_examples, SMOKE_PROBE_EXAMPLES) if cfg.smoke else cfg.probe_examples


def _data(cfg: ReplicationConfig, root: Path, paths: dict[str, Path], method: Method, base: Run) -> Path:
    if not method.sampled:
        return paths[method.data]
    if cfg.smoke:   # only PROMPTS_ONLY methods run under --smoke (method_list): the training split's prompts
        return paths["train"]
    return samples_dir(root, base.name) / SAMPLED_DATA[method.data]


def _sample(root: Path, paths: dict[str, Path], base: Run, seed: int, prompts: int) -> None:
    """Replies sampled from `base` and verified: RFT's and offline DFT's data (accepted), DPO's (pairs)."""
    from probscope.builtin.settings import SAMPLING
    from probscope.training.sampling import PAIRS, SampleConfig, sample

    out = samples_dir(root, base.name)
    if not (out / PAIRS).is_file():
        sample(SampleConfig(policy=str(base.checkpoint(base.checkpoint_steps()[-1])), data=str(paths["train"]),
                            out=str(out), seed=seed, **SAMPLING | {"limit": prompts}))


def _sample_heldout_pairs(root: Path, paths: dict[str, Path], base: Run, seed: int) -> None:
    """Replies sampled from `base` on the in-distribution test prompts: pairs DPO is scored on, never trained on."""
    from probscope.builtin.settings import SAMPLING
    from probscope.training.sampling import PAIRS, SampleConfig, sample

    out = heldout_samples_dir(root, base.name)
    if not (out / PAIRS).is_file():
        sample(SampleConfig(policy=str(base.checkpoint(base.checkpoint_steps()[-1])), data=str(paths["test-id"]),
                            out=str(out), seed=seed, **SAMPLING | {"limit": None, "pass_band": None}))


def _probe(run: Run, root: Path, splits: tuple[str, ...], n_examples: int, steps: list[int] | None = None) -> None:
    """Probe `steps` (default: every checkpoint) of `run` on the first `n_examples` examples of each split."""
    from probscope.probe.run import probe_run

    for split in splits:
        probe_run(run.root, root / BUILTIN_DATA / f"{split}.jsonl", dataset=split, limit=n_examples, steps=steps)


def evaluate_run(root: Path, run: Run, benchmarks: tuple[str, ...]) -> dict[str, float]:
    """Evaluate every checkpoint of `run` (greedy); the last checkpoint's accuracy per benchmark."""
    from probscope.evaluate import evaluate_runs

    last = {}
    for benchmark in benchmarks:
        results = evaluate_runs(root, benchmark, runs_filter=[run.name])
        failed = [result for result in results if result.error]
        if failed:
            raise ProbscopeError(f"replicate: {failed[0].line()}")
        latest = max(results, key=lambda result: result.step)
        assert latest.summary is not None, "a result without an error has a summary"
        last[benchmark] = latest.summary["average_at_k"]
    return last


def _passed_base(root: Path, attempts: list[dict]) -> Run | None:
    passed = [attempt for attempt in attempts if attempt["passed"]]
    return Run(root / passed[0]["run"]) if passed else None
