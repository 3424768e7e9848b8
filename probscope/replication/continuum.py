"""The model-capability continuum (Li et al. 2025, "Beyond Log Likelihood"): does the best objective depend on
how competent the base already is? Prior-leaning objectives (dft, power, sft-above) should win on a strong
base and −log p (sft, sft-below) on a weak one.

    probscope replicate-continuum                # = make replicate-continuum: runs/continuum -> results/continuum

Bases of graded competence are one pretraining run stopped at several points (its checkpoints at `stops`);
every objective fine-tunes every stop with the same settings, and each fine-tune's last checkpoint is
evaluated. The crossover is read from accuracy against the base's own accuracy, per objective.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError
from probscope.replication.config import ReplicationConfig, items
from probscope.replication.methods import REASONING_BENCHMARKS
from probscope.replication.pipeline import TIMINGS_FILE, StageTimings, evaluate_run
from probscope.runs import BUILTIN_DATA, Run

COMPETENCE = "base_accuracy"


@dataclass
class ContinuumConfig:
    runs_root: str = field(default="runs/continuum", metadata={"help": "where the runs and evaluations go"})
    results: str = field(default="results/continuum", metadata={"help": "where the figure and CONTINUUM.md go"})
    seeds: str = field(default="0,1", metadata={"help": "training seeds, comma-separated (one base run per seed)"})
    base_steps: int = field(default=800, metadata={"help": "pretraining steps of each seed's base run"})
    stops: str = field(default="50,100,200,400,800", metadata={
        "help": "pretraining steps whose checkpoints serve as bases of graded competence"})
    objectives: str = field(default="sft,dft,power:q=0.5,sft-above:threshold=0.1,sft-below:threshold=0.1",
                            metadata={"help": "objectives, each NAME or NAME:key=value[;key=value]"})
    # a weak base must be able to learn the format at all: a base at 6% in distribution reached 98.5% at lr 1e-3
    finetune_lr: float = field(default=1e-3, metadata={"help": "learning rate of every fine-tune"})
    finetune_steps: int = field(default=200, metadata={"help": "optimizer steps of every fine-tune"})
    smoke: bool = field(default=False, metadata={
        "help": "the demo's smoke task and 1-layer model, batches of 4 (set the steps small too): checks the "
                "pipeline, measures nothing"})

    def replication(self) -> ReplicationConfig:
        """The replication settings this study shares (task, seeds parsing)."""
        return ReplicationConfig(runs_root=self.runs_root, results=self.results, seeds=self.seeds, smoke=self.smoke)

    def smoke_overrides(self, recipe: str) -> dict[str, Any]:
        """--smoke: the built-in smoke model and batches; the steps stay this study's (its stops are its subject)."""
        from probscope.builtin.settings import smoke_overrides

        return smoke_overrides(recipe, keep_steps=True) if self.smoke else {}

    def stop_list(self) -> list[int]:
        try:
            stops = sorted({int(s) for s in items(self.stops)})
        except ValueError:
            raise ProbscopeError(f"stops: expected comma-separated step numbers, got {self.stops!r}") from None
        if not stops or stops[0] < 1 or stops[-1] > self.base_steps:
            raise ProbscopeError(f"stops: expected steps in 1..base_steps ({self.base_steps}), got {self.stops!r}")
        return stops

    def objective_list(self) -> list[tuple[str, str, dict]]:
        """(label, objective, hyper-parameters) per objective spec, checked against the registry."""
        from probscope.training.objectives import get_objective

        parsed = []
        for spec in items(self.objectives):
            name, _, rest = spec.partition(":")
            args = {}
            for pair in filter(None, rest.split(";")):
                key, sep, value = pair.partition("=")
                try:
                    args[key.strip()] = float(value)
                except ValueError:
                    raise ProbscopeError(f"objectives: {spec!r}: expected key=number, got {pair!r}") from None
                if not sep:
                    raise ProbscopeError(f"objectives: {spec!r}: expected key=number, got {pair!r}")
            get_objective(name).resolve_args(args)   # unknown names and hyper-parameters fail here
            label = name + "".join(f"-{key}{value:g}" for key, value in args.items())
            parsed.append((label, name, args))
        return parsed


def base_run_name(seed: int) -> str:
    return f"base-s{seed}"


def finetune_run_name(label: str, stop: int, seed: int) -> str:
    return f"{label}-from{stop}-s{seed}"


def run_continuum(cfg: ContinuumConfig) -> Path:
    """Train, evaluate and report the study (every finished stage is skipped); returns the results directory."""
    from tqdm.auto import tqdm

    from probscope.builtin.task import write_builtin_data

    root = Path(cfg.runs_root)
    shared = cfg.replication()
    seeds, stops, objectives = shared.seed_list(), cfg.stop_list(), cfg.objective_list()
    write_builtin_data(root / BUILTIN_DATA, shared.task())
    timings = StageTimings(root / TIMINGS_FILE)
    with tqdm(total=len(seeds) * (1 + len(stops) * len(objectives)), desc="continuum", unit="run") as progress:
        for seed in seeds:
            progress.set_postfix_str(f"seed {seed}: base")
            with timings("base (pretraining, every stop evaluated)"):
                base = _train_base(cfg, root, seed, stops)
            progress.update()
            for stop in stops:
                for label, objective, args in objectives:
                    progress.set_postfix_str(f"seed {seed}: {label} from step {stop}")
                    with timings(label):
                        _fine_tune(cfg, root, base, stop, label, objective, args, seed)
                    progress.update()
    with timings("results"):
        out = write_continuum_results(cfg)
    return out


def _train_base(cfg: ContinuumConfig, root: Path, seed: int, stops: list[int]) -> Run:
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    settings = {"run_name": base_run_name(seed), "seed": seed, "max_steps": cfg.base_steps,
                "checkpoints": ",".join(map(str, stops)), "disable_tqdm": True}
    run = train(builtin_recipe("base", root), **settings | cfg.smoke_overrides("base"))
    evaluate_run(root, run, REASONING_BENCHMARKS)
    return run


def _fine_tune(cfg: ContinuumConfig, root: Path, base: Run, stop: int, label: str, objective: str, args: dict,
               seed: int) -> Run:
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    settings = {"model": str(base.checkpoint(stop)), "run_name": finetune_run_name(label, stop, seed),
                "method": label, "objective": objective, "objective_args": args, "seed": seed,
                "learning_rate": cfg.finetune_lr, "max_steps": cfg.finetune_steps, "checkpoints": "final",
                "disable_tqdm": True}
    run = train(builtin_recipe("sft", root, base), **settings | cfg.smoke_overrides("sft"))
    evaluate_run(root, run, REASONING_BENCHMARKS)
    return run


# ---- results ---------------------------------------------------------------------------------------------
def continuum_table(cfg: ContinuumConfig) -> pl.DataFrame:
    """One row per seed, stop, objective and benchmark: the base's accuracy there and the fine-tune's."""
    from probscope.evaluate import load_evals

    shared = cfg.replication()
    evals = load_evals(cfg.runs_root)
    if evals.is_empty():
        return pl.DataFrame()
    accuracy = {(row[schema.RUN], row["benchmark"], row[schema.STEP]): row["average_at_k"]
                for row in evals.iter_rows(named=True)}
    rows = []
    for seed in shared.seed_list():
        for stop in cfg.stop_list():
            for label, _, _ in cfg.objective_list():
                for benchmark in REASONING_BENCHMARKS:
                    before = accuracy.get((base_run_name(seed), benchmark, stop))
                    run = finetune_run_name(label, stop, seed)
                    after = [v for (r, b, _), v in accuracy.items() if r == run and b == benchmark]
                    if before is not None and after:
                        rows.append({"seed": seed, "stop": stop, "objective": label, "benchmark": benchmark,
                                     COMPETENCE: before, "accuracy": after[-1], "gain": after[-1] - before})
    return pl.DataFrame(rows)


def write_continuum_results(cfg: ContinuumConfig) -> Path:
    from probscope.plots import markdown_table
    from probscope.replication.figures import continuum_figure, save

    out = Path(cfg.results)
    out.mkdir(parents=True, exist_ok=True)
    table = continuum_table(cfg)
    if table.is_empty():
        raise ProbscopeError(f"{cfg.runs_root}: no finished continuum runs to report")
    table.write_csv(out / "continuum.csv")
    save(continuum_figure(table, REASONING_BENCHMARKS), out / "continuum")
    wide = (table.group_by("benchmark", "stop", "objective").agg(pl.col(COMPETENCE).mean(), pl.col("accuracy").mean())
            .pivot(on="objective", index=["benchmark", "stop", COMPETENCE], values="accuracy")
            .sort("benchmark", "stop"))
    wide = wide.select("benchmark", "stop", COMPETENCE, *[label for label, _, _ in cfg.objective_list()
                                                           if label in wide.columns])
    means = table.group_by("benchmark", "stop", "objective").agg(pl.col("accuracy").mean())
    best = means.group_by("benchmark", "stop").agg(   # every objective tied at the top is named
        pl.col("objective").filter(pl.col("accuracy") == pl.col("accuracy").max()).sort().str.join(", ")
        .alias("best objective(s)"), pl.col("accuracy").max().alias("its accuracy"))
    timings = Path(cfg.runs_root) / TIMINGS_FILE
    lines = ["# The model-capability continuum: accuracy after fine-tuning vs the base's own accuracy", "",
             f"Generated by `probscope replicate-continuum` (= `make replicate-continuum`): seeds {cfg.seeds}; bases "
             f"= one pretraining run ({cfg.base_steps} steps) stopped at steps {cfg.stops}; every objective "
             f"fine-tunes every stop at lr {cfg.finetune_lr:g} for {cfg.finetune_steps} steps; greedy accuracy on "
             "200 problems. Mean over seeds where several.", "", "![continuum](continuum.png)", "",
             markdown_table(wide, digits=3), "", "## Best objective per base", "",
             markdown_table(best.sort("benchmark", "stop")), ""]
    if timings.is_file():
        seconds = json.loads(timings.read_text())
        lines += ["## Time per stage (seconds, this machine)", "",
                  markdown_table(pl.DataFrame({"stage": list(seconds), "seconds": list(seconds.values())})), ""]
    (out / "CONTINUUM.md").write_text("\n".join(lines))
    return out
