"""The model-capability continuum (Li et al. 2025, "Beyond Log Likelihood"): does the best objective depend on
how competent the base already is? Prior-leaning objectives (dft, power with q ≥ 1, sft-above, only-top-p)
should win on a strong base and −log p (sft, sft-below) on a weak one.

    probscope replicate-continuum                # = make replicate-continuum: runs/continuum -> results/continuum

Bases of graded competence are separate pretraining runs per seed, one per entry of `stops`, each with its own
full (warm-up + cosine) schedule of that many steps, so a weak base is a short run, not an un-annealed
mid-schedule checkpoint. As in Li et al., thresholds are percentiles of each base's own token probabilities
(its probe of the demonstrations): `sft-above:percentile=10` trains −log p on the tokens above that base's
10th percentile. Every objective fine-tunes every base with the same settings; each fine-tune's last
checkpoint is evaluated, and every objective is compared with SFT per base, paired by seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError
from probscope.replication import claims
from probscope.replication.config import ReplicationConfig, parse_list
from probscope.replication.layout import StageTimings, read_timings
from probscope.replication.methods import REASONING_BENCHMARKS
from probscope.replication.pipeline import evaluate_run
from probscope.runs import BUILTIN_DATA, Run, write_text_atomic

COMPETENCE = "base_accuracy"
PERCENTILE = "percentile"   # an objective spec's key: the threshold is this percentile of the base's probed p
THRESHOLD = "threshold"


@dataclass(frozen=True)
class ObjectiveSpec:
    label: str                    # the run's method, e.g. "sft-above-percentile10"
    objective: str                # the registered objective
    args: dict[str, float]        # its hyper-parameters (a percentile's threshold is added per base)
    percentile: float | None = None


@dataclass
class ContinuumConfig:
    runs_root: str = field(default="runs/continuum", metadata={"help": "where the runs and evaluations go"})
    results: str = field(default="results/continuum", metadata={"help": "where the figure and CONTINUUM.md go"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={
        "help": "training seeds, comma-separated (one base per seed and stop; three for an interval)"})
    # three levels (within the 30-minute budget on 2 cores): on task version 2 a 100-step base barely solves
    # anything, an 800-step one solves test-id and a third of test-shift
    stops: list[int] = field(default_factory=lambda: [100, 400, 800], metadata={
        "help": "pretraining lengths of the bases of graded competence, comma-separated: each its own full run"})
    # Li et al.: −p^q with q = 1 (≈ DFT; power q=1 has DFT's gradient exactly) and q ≈ 10 (strongly
    # prior-leaning), thresholds at the base's 10th and 50th percentiles
    objectives: list[str] = field(default_factory=lambda: [
        "sft", "power:q=0.5", "dft", "power:q=10", "sft-above:percentile=10", "only-top-p:percentile=10",
        "sft-below:percentile=50"], metadata={
        "help": "objectives, comma-separated, each NAME or NAME:key=value[;key=value]; percentile=P sets a "
                "thresholded objective's threshold to the P-th percentile of the base's probed probabilities"})
    # not tuned for this study: between the replication's 1e-5 (chosen to keep SFT in distribution on the strong
    # base; weak bases barely move at it) and 3e-4, which broke the strong base for every objective (seed 0,
    # 200 steps: SFT 22%, DFT 21% in distribution; at 1e-4: SFT 24.5%, DFT 52.5%)
    finetune_lr: float = field(default=1e-4, metadata={"help": "learning rate of every fine-tune"})
    finetune_steps: int = field(default=100, metadata={"help": "optimizer steps of every fine-tune"})
    probe_examples: int = field(default=500, metadata={
        "help": "demonstrations probed per base (the percentiles' sample)"})
    workers: int = field(default=0, metadata={
        "help": "runs trained side by side, one process and one torch thread each (0: one per CPU core)"})
    readme: str = field(default="README.md", metadata={
        "help": "README whose marked block (<!-- continuum:begin --> ... <!-- continuum:end -->) the report "
                "rewrites; empty: none (a --smoke run never writes it)"})
    smoke: bool = field(default=False, metadata={
        "help": "the demo's smoke task and 1-layer model, batches of 4, the first two seeds, bases of 2 and 4 "
                "steps, 2-step fine-tunes: checks the pipeline, measures nothing"})

    def __post_init__(self) -> None:
        self.seeds = self.replication().seeds
        self.stops = sorted(set(parse_list("stops", self.stops, int, "step numbers")))
        if self.smoke:
            self.stops, self.finetune_steps = [2, 4], 2
        if not self.stops or self.stops[0] < 1:
            raise ProbscopeError(f"stops: expected positive step numbers, got {self.stops!r}")
        self.objectives = parse_list("objectives", self.objectives, str, "objective specs")
        self.objective_list()   # unknown names and hyper-parameters fail here
        self.workers = self.replication().workers

    def replication(self) -> ReplicationConfig:
        """The replication settings this study shares (task, seeds)."""
        return ReplicationConfig(runs_root=self.runs_root, results=self.results, seeds=self.seeds, smoke=self.smoke,
                                 workers=self.workers)

    def smoke_overrides(self, recipe: str) -> dict[str, Any]:
        """--smoke: the built-in smoke model and batches; the steps stay this study's (its stops are its subject)."""
        from probscope.builtin.settings import smoke_overrides

        return smoke_overrides(recipe, keep_steps=True) if self.smoke else {}

    def objective_list(self) -> list[ObjectiveSpec]:
        """Each objective spec parsed and checked against the registry."""
        return [_parse_objective(spec) for spec in self.objectives]


def _parse_objective(spec: str) -> ObjectiveSpec:
    from probscope.training.objectives import get_objective

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
    percentile = args.pop(PERCENTILE, None)
    objective = get_objective(name)
    if percentile is not None:
        if THRESHOLD in args or not 0 <= percentile <= 100:
            raise ProbscopeError(f"objectives: {spec!r}: percentile takes 0..100 and replaces threshold")
        objective.resolve_args({**args, THRESHOLD: 0.5})   # an objective without a threshold fails here
    else:
        objective.resolve_args(args)   # unknown names and hyper-parameters fail here
    label = name + "".join(f"-{key}{value:g}" for key, value in args.items())
    return ObjectiveSpec(label + ("" if percentile is None else f"-percentile{percentile:g}"), name, args, percentile)


def base_run_name(stop: int, seed: int) -> str:
    return f"base{stop}-s{seed}"


def finetune_run_name(label: str, stop: int, seed: int) -> str:
    return f"{label}-from{stop}-s{seed}"


def run_continuum(cfg: ContinuumConfig) -> Path:
    """Train, evaluate and report the study (every finished stage is skipped); returns the results directory.
    The bases, and each base's fine-tunes as soon as it exists, run side by side in cfg.workers processes
    (probscope.parallel)."""
    from probscope.builtin.task import write_builtin_data
    from probscope.parallel import Job, side_by_side

    root = Path(cfg.runs_root)
    objectives = cfg.objective_list()
    write_builtin_data(root / BUILTIN_DATA, cfg.replication().task())
    timings = StageTimings(root)
    with timings("wall clock"):
        bases = _seeds_and_stops(cfg)

        def fine_tunes(index: int, result: Any) -> list[Job]:
            if index >= len(bases):
                return []
            (seed, stop), base = bases[index], result[0]
            return [(_timed_fine_tune, (cfg, root, base, stop, spec, seed)) for spec in objectives]

        side_by_side([(_timed_base, (cfg, root, seed, stop)) for seed, stop in bases], cfg.workers,
                     desc="continuum: bases, then their fine-tunes", then=fine_tunes,
                     on_result=lambda index, result: timings.add(result[1] if index < len(bases) else result))
    with timings("results"):
        out = write_continuum_results(cfg)
    return out


def _seeds_and_stops(cfg: ContinuumConfig) -> list[tuple[int, int]]:
    return [(seed, stop) for seed in cfg.seeds for stop in cfg.stops]


def _timed_base(cfg: ContinuumConfig, root: Path, seed: int, stop: int) -> tuple[Run, dict[str, float]]:
    timings = StageTimings(None)
    with timings("bases (pretraining, probe, evaluation)"):
        run = _train_base(cfg, root, seed, stop)
    return run, timings.seconds


def _timed_fine_tune(cfg: ContinuumConfig, root: Path, base: Run, stop: int, spec: ObjectiveSpec,
                     seed: int) -> dict[str, float]:
    timings = StageTimings(None)
    with timings(spec.label):
        _fine_tune(cfg, root, base, stop, spec, seed)
    return timings.seconds


def _train_base(cfg: ContinuumConfig, root: Path, seed: int, stop: int) -> Run:
    from probscope.builtin.settings import builtin_recipe
    from probscope.probe.run import probe_run
    from probscope.training.run import train

    settings = {"run_name": base_run_name(stop, seed), "seed": seed, "max_steps": stop, "checkpoints": "final",
                "disable_tqdm": True}
    run = train(builtin_recipe("base", root), **settings | cfg.smoke_overrides("base"))
    probe_run(run.root, root / BUILTIN_DATA / "train.jsonl", dataset="train", limit=cfg.probe_examples)
    evaluate_run(root, run, REASONING_BENCHMARKS)
    return run


def base_percentile(root: Path, base: Run, percentile: float) -> float:
    """The `percentile`-th percentile of the probabilities `base` gives its probed demonstration tokens."""
    from probscope.analysis import load_tokens

    p = load_tokens(root, runs=[base.name], dataset="train")[schema.P]
    if p.is_empty():
        raise ProbscopeError(f"{base.root}: no probed tokens to take a percentile of (probe it on train)")
    value = p.quantile(percentile / 100, interpolation="linear")
    assert value is not None, "the quantile of a non-empty column"
    return float(value)


def _fine_tune(cfg: ContinuumConfig, root: Path, base: Run, stop: int, spec: ObjectiveSpec, seed: int) -> Run:
    from probscope.builtin.settings import builtin_recipe
    from probscope.training.run import train

    args = dict(spec.args)
    if spec.percentile is not None:
        args[THRESHOLD] = base_percentile(root, base, spec.percentile)
    settings = {"run_name": finetune_run_name(spec.label, stop, seed), "method": spec.label,
                "objective": spec.objective, "objective_args": args, "seed": seed,
                "learning_rate": cfg.finetune_lr, "max_steps": cfg.finetune_steps, "checkpoints": "final",
                "disable_tqdm": True}
    run = train(builtin_recipe("sft", root, base), **settings | cfg.smoke_overrides("sft"))
    evaluate_run(root, run, REASONING_BENCHMARKS)
    return run


# ---- results ---------------------------------------------------------------------------------------------
def continuum_table(cfg: ContinuumConfig) -> pl.DataFrame:
    """One row per seed, stop, objective and benchmark: the base's accuracy, the fine-tune's, and the threshold
    the fine-tune trained with (null for objectives without one)."""
    from probscope.evaluate import load_evals

    evals = load_evals(cfg.runs_root)
    if evals.is_empty():
        return pl.DataFrame()
    last: dict[tuple[str, str], tuple[int, float]] = {}
    for row in evals.iter_rows(named=True):   # each run's last evaluated checkpoint
        key = (row[schema.RUN], row["benchmark"])
        if key not in last or row[schema.STEP] > last[key][0]:
            last[key] = (row[schema.STEP], row["average_at_k"])
    rows = []
    for seed in cfg.seeds:
        for stop in cfg.stops:
            for spec in cfg.objective_list():
                run = finetune_run_name(spec.label, stop, seed)
                for benchmark in REASONING_BENCHMARKS:
                    before, after = last.get((base_run_name(stop, seed), benchmark)), last.get((run, benchmark))
                    if before is not None and after is not None:
                        rows.append({"seed": seed, "stop": stop, "objective": spec.label, "benchmark": benchmark,
                                     COMPETENCE: before[1], "accuracy": after[1], "gain": after[1] - before[1],
                                     THRESHOLD: _threshold(Path(cfg.runs_root) / run)})
    return pl.DataFrame(rows, schema={"seed": pl.Int64, "stop": pl.Int64, "objective": pl.String,
                                      "benchmark": pl.String, COMPETENCE: pl.Float64, "accuracy": pl.Float64,
                                      "gain": pl.Float64, THRESHOLD: pl.Float64})


def _threshold(run_dir: Path) -> float | None:
    args = json.loads(Run(run_dir).read_manifest().config["run"].get("objective_args") or "{}")
    return args.get(THRESHOLD)


def versus_sft(table: pl.DataFrame) -> pl.DataFrame:
    """Per benchmark, base and objective: the objective's accuracy minus SFT's, paired by seed (same base)."""
    endpoints = table.select(pl.col("objective").alias(schema.METHOD), "seed",
                             pl.format("accuracy on {} from the {}-step base", "benchmark", "stop")
                             .alias(claims.ENDPOINT), pl.col("accuracy").alias(claims.VALUE),
                             pl.lit(0.0).alias(claims.LOW), pl.lit(1.0).alias(claims.HIGH))
    keys = table.select("benchmark", "stop", "objective").unique().sort("benchmark", "stop", "objective")
    rows = [claims.compare(endpoints, claims.Claim(objective, "sft", f"accuracy on {benchmark} from the {stop}-step "
                                                                     "base", "Li et al.: the best objective depends "
                                                                             "on the base's competence"))
            for benchmark, stop, objective in keys.iter_rows() if objective != "sft"]
    return claims.rows_frame(rows)


def write_continuum_results(cfg: ContinuumConfig) -> Path:
    from probscope.plots import markdown_table
    from probscope.replication.figures import continuum_figure, save
    from probscope.replication.markdown import interval_column, rewrite_readme_block
    from probscope.replication.report import over_seeds

    out = Path(cfg.results)
    out.mkdir(parents=True, exist_ok=True)
    table = continuum_table(cfg)
    if table.is_empty():
        raise ProbscopeError(f"{cfg.runs_root}: no finished continuum runs to report")
    table.write_csv(out / "continuum.csv")
    save(continuum_figure(table, REASONING_BENCHMARKS), out / "continuum")
    accuracy = over_seeds(table, "accuracy", ["benchmark", "stop", "objective"])
    competence = over_seeds(table.unique(["seed", "stop", "benchmark"]), COMPETENCE, ["benchmark", "stop"])
    compared = versus_sft(table)
    thresholds = (table.filter(pl.col(THRESHOLD).is_not_null()).unique(["seed", "stop", "objective"])
                  .select("objective", "stop", "seed", THRESHOLD).sort("objective", "stop", "seed"))
    for name, frame in (("continuum_accuracy", accuracy), ("continuum_versus_sft", compared),
                        ("continuum_thresholds", thresholds)):
        frame.write_csv(out / f"{name}.csv")
    labels = [spec.label for spec in cfg.objective_list()]
    wide = (accuracy.with_columns(interval_column("cell"))
            .pivot(on="objective", index=["benchmark", "stop"], values="cell")
            .join(competence.select("benchmark", "stop", interval_column(COMPETENCE)), on=["benchmark", "stop"])
            .sort("benchmark", "stop"))
    wide = wide.select("benchmark", "stop", COMPETENCE, *[label for label in labels if label in wide.columns])
    beats = compared.filter(pl.col("verdict").is_in(["reproduced", "contradicted"]))
    n_test = cfg.replication().task().n_test
    lines = ["# The model-capability continuum: accuracy after fine-tuning vs the base's own accuracy", "",
             f"Generated by `probscope replicate-continuum` (= `make replicate-continuum`): seeds "
             f"{', '.join(map(str, cfg.seeds))}; bases = separate pretraining runs of {', '.join(map(str, cfg.stops))} "
             f"steps, each with its own full schedule; every objective fine-tunes every base at lr "
             f"{cfg.finetune_lr:g} for {cfg.finetune_steps} steps; greedy accuracy on {n_test} problems per split. "
             "Mean [95% t-interval] over seeds. Thresholds named by a percentile are that percentile of each "
             f"base's own probed token probabilities (first {cfg.probe_examples} demonstrations).", "",
             "![continuum](continuum.png)", "", markdown_table(wide, digits=3), "",
             "## Each objective against SFT, paired by seed", "",
             "Exploratory (no correction across bases and objectives). A difference counts only when its 95% "
             f"interval and its exact sign-flip p (< 0.05) agree; with {len(cfg.seeds)} seeds the sign-flip p "
             f"cannot go below {2 / 2 ** len(cfg.seeds):.3g}"
             + (", so no single comparison here can count: read the intervals." if 2 / 2 ** len(cfg.seeds) >= 0.05
                else "."), "",
             markdown_table(compared.select("comparison", claims.ENDPOINT, "n", "mean", "lo", "hi", "sign-flip p",
                                            "per_seed", "verdict"), digits=3), "",
             f"Differences that count: {beats.height} of {compared.height}.", ""]
    if not thresholds.is_empty():
        lines += ["## The thresholds each fine-tune trained with", "", markdown_table(thresholds, digits=3), ""]
    if not cfg.smoke and cfg.readme:
        rewrite_readme_block(Path(cfg.readme), "continuum", "\n".join([
            f"Seeds {', '.join(map(str, cfg.seeds))}; accuracy after fine-tuning each base (mean [95% t-interval]); "
            f"objectives against SFT, paired by seed: {beats.height} of {compared.height} differences count "
            "(interval and sign-flip p agree). Every comparison: `results/continuum/CONTINUUM.md`.", "",
            markdown_table(wide, digits=3)]))
    seconds = read_timings(Path(cfg.runs_root))
    if seconds:
        lines += ["## Time per stage (seconds, this machine)", "",
                  markdown_table(pl.DataFrame({"stage": list(seconds), "seconds": list(seconds.values())})), ""]
    write_text_atomic(out / "CONTINUUM.md", "\n".join(lines))
    return out

