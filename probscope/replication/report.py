"""results/: the replication's tables (RESULTS.md, one CSV per table) and figures (png + pdf), computed from the
runs of a replication (probscope.replication.pipeline) and nothing else.

    from probscope.replication.report import seed_table, write_results
    finals = seed_table(ReplicationConfig())     # polars: method, seed, run, benchmark, step, accuracy

Across seeds every number is a mean with a 95% t-interval (n seeds, n - 1 degrees of freedom); a claim
"A beats B" is tested on the per-seed paired differences (same seed = same base), and called reproduced
when the interval of the difference lies above 0, contradicted when below, inconclusive otherwise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.replication.config import ReplicationConfig
from probscope.replication.methods import METHODS, REASONING_BENCHMARKS, parse_run_name
from probscope.replication.pipeline import GATE_BENCHMARK, GATE_FILE, TIMINGS_FILE

SEED = "seed"
HELD_OUT = "builtin-test-shift"
ACCURACY = "accuracy"
BASE = "base"
# the probability thresholds of the lowest-bin listing (the paper's lowest bins, and p < 0.1)
LOW_THRESHOLDS = (1e-4, 1e-3, 1e-2, 0.1)
LR = "lr"


# ---- reading the runs ------------------------------------------------------------------------------------
def gate_attempts(cfg: ReplicationConfig) -> pl.DataFrame:
    """Every base tried: seed, run, steps, accuracy (on builtin-test-id, the gate), passed, and its accuracy on
    the held-out split (what the split needs: a base that can already solve part of it)."""
    from probscope.evaluate import load_evals

    path = Path(cfg.runs_root) / GATE_FILE
    gate = json.loads(path.read_text()) if path.is_file() else {}
    rows = [{SEED: int(seed), **attempt} for seed, attempts in gate.items() for attempt in attempts]
    table = pl.DataFrame(rows, schema={SEED: pl.Int64, "run": pl.String, "steps": pl.Int64, ACCURACY: pl.Float64,
                                       "passed": pl.Boolean})
    evals = load_evals(cfg.runs_root, runs_filter=table["run"].to_list(), names=[HELD_OUT]) if rows else pl.DataFrame()
    held_out = {run: value for run, value in evals.select(schema.RUN, "average_at_k").iter_rows()} if rows else {}
    return table.with_columns(pl.col("run").replace_strict(held_out, default=None, return_dtype=pl.Float64)
                              .alias(f"accuracy on {HELD_OUT}"))


def chosen_runs(cfg: ReplicationConfig) -> dict[str, tuple[str, int]]:
    """run name -> (method, seed) of every run the results use: the base that passed each seed's gate (as
    "base") and every method run of the seeds in `cfg`."""
    seeds = set(cfg.seed_list())
    chosen = {row["run"]: (BASE, row[SEED]) for row in gate_attempts(cfg).filter("passed").iter_rows(named=True)
              if row[SEED] in seeds}
    for name, (method, seed, lr) in _replication_runs(cfg).items():
        if lr is None and method in METHODS and seed in seeds:
            chosen[name] = (method, seed)
    return chosen


def _replication_runs(cfg: ReplicationConfig) -> dict[str, tuple[str, int, float | None]]:
    """Every run under the runs root named by methods.run_name, read back: name -> (method, seed, lr)."""
    root = Path(cfg.runs_root)
    parsed = {path.name: parse_run_name(path.name) for path in sorted(root.iterdir())} if root.is_dir() else {}
    return {name: fields for name, fields in parsed.items() if fields is not None}


def _with_method_and_seed(frame: pl.DataFrame, chosen: dict[str, tuple[str, int]]) -> pl.DataFrame:
    """`frame` (a run column) with the method and seed `chosen` gives each run."""
    return frame.with_columns(
        pl.col(schema.RUN).replace_strict({run: m for run, (m, _) in chosen.items()}).alias(schema.METHOD),
        pl.col(schema.RUN).replace_strict({run: s for run, (_, s) in chosen.items()}).alias(SEED),
    )


def accuracy_table(cfg: ReplicationConfig) -> pl.DataFrame:
    """Every evaluated checkpoint of the chosen runs: method, seed, run, benchmark, step, accuracy."""
    from probscope.evaluate import load_evals

    chosen = chosen_runs(cfg)
    evals = load_evals(cfg.runs_root, runs_filter=list(chosen))
    if evals.is_empty():
        return pl.DataFrame(schema={schema.METHOD: pl.String, SEED: pl.Int64, schema.RUN: pl.String,
                                    "benchmark": pl.String, schema.STEP: pl.Int64, ACCURACY: pl.Float64})
    return (_with_method_and_seed(evals, chosen)
            .select(schema.METHOD, SEED, schema.RUN, "benchmark", schema.STEP, pl.col("average_at_k").alias(ACCURACY))
            .sort(schema.METHOD, SEED, "benchmark", schema.STEP))


def seed_table(cfg: ReplicationConfig) -> pl.DataFrame:
    """Each run's last evaluated checkpoint per benchmark (the base: its only one)."""
    return _last_and_best(accuracy_table(cfg), [schema.METHOD, SEED, schema.RUN, "benchmark"])[0]


def peak_table(cfg: ReplicationConfig) -> pl.DataFrame:
    """Each run's best checkpoint per benchmark: its accuracy and step (the learning curves' summary)."""
    acc = accuracy_table(cfg).filter(pl.col(schema.METHOD) != BASE)
    return _last_and_best(acc, [schema.METHOD, SEED, schema.RUN, "benchmark"])[1]


def sweep_table(cfg: ReplicationConfig) -> pl.DataFrame:
    """Every evaluated checkpoint of the sweep methods at every learning rate (the main runs at cfg.finetune_lr
    included): method, lr, seed, run, benchmark, step, accuracy."""
    from probscope.evaluate import load_evals

    seeds, sweep_methods = set(cfg.seed_list()), {name for name, _ in cfg.sweep()}
    lr_of = {name: (method, cfg.finetune_lr if lr is None else lr, seed)
             for name, (method, seed, lr) in _replication_runs(cfg).items()
             if seed in seeds and method in sweep_methods}
    evals = load_evals(cfg.runs_root, runs_filter=list(lr_of))
    if evals.is_empty():
        return pl.DataFrame()
    return pl.DataFrame([
        {schema.METHOD: lr_of[row[schema.RUN]][0], LR: lr_of[row[schema.RUN]][1], SEED: lr_of[row[schema.RUN]][2],
         schema.RUN: row[schema.RUN], "benchmark": row["benchmark"], schema.STEP: row[schema.STEP],
         ACCURACY: row["average_at_k"]} for row in evals.iter_rows(named=True)
    ]).sort(schema.METHOD, LR, SEED, "benchmark", schema.STEP)


def _last_and_best(table: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per group of `by`: the last checkpoint's row, and the best checkpoint's row (earliest among ties)."""
    last = table.filter(pl.col(schema.STEP) == pl.col(schema.STEP).max().over(by))
    best = (table.sort(ACCURACY, schema.STEP, descending=[True, False])
            .group_by(by, maintain_order=True).first().sort(by))
    return last, best


# ---- statistics over seeds -------------------------------------------------------------------------------
def t_interval(values: list[float]) -> tuple[float, float | None, float | None]:
    """Mean and its 95% t-interval (None with a single value)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def over_seeds(table: pl.DataFrame, value: str, by: list[str]) -> pl.DataFrame:
    """Per group of `by`: n seeds, mean, lo, hi of `value`, and the per-seed values in seed order."""
    rows = []
    for key, group in table.sort(SEED).group_by(by, maintain_order=True):
        values = group[value].to_list()
        mean, lo, hi = t_interval(values)
        rows.append({**dict(zip(by, key)), "n": len(values), "mean": mean, "lo": lo, "hi": hi,
                     "per_seed": ", ".join(f"{v:.3f}" for v in values)})
    return pl.DataFrame(rows, schema={**{b: table.schema[b] for b in by}, "n": pl.Int64, "mean": pl.Float64,
                                      "lo": pl.Float64, "hi": pl.Float64, "per_seed": pl.String})


def paired_difference(table: pl.DataFrame, a: str, b: str, value: str = ACCURACY,
                      by: tuple[str, ...] = ("benchmark",)) -> pl.DataFrame:
    """Per group of `by`: a − b on the seeds both have, its t-interval and the verdict on "a beats b"."""
    keys = [SEED, *by]
    left = table.filter(pl.col(schema.METHOD) == a).select(*keys, pl.col(value).alias("a"))
    right = table.filter(pl.col(schema.METHOD) == b).select(*keys, pl.col(value).alias("b"))
    both = left.join(right, on=keys).with_columns((pl.col("a") - pl.col("b")).alias("difference"))
    out = over_seeds(both, "difference", list(by))
    return out.with_columns(pl.lit(f"{a} − {b}").alias("comparison"),
                            pl.struct("lo", "hi").map_elements(_verdict, return_dtype=pl.String).alias("verdict"))


# The paper's claims as (a, b, which checkpoint, value): "a beats b" is reproduced when a − b > 0 on every
# seed-paired interval. Peak steps are compared as sft − dft: positive means DFT peaks sooner.
CLAIMS = (
    ("dft", "sft", "final", ACCURACY),              # Table 1/2: DFT generalizes better than SFT
    ("dft", "sft", "peak", ACCURACY),
    ("dft", "dft-sentence", "final", ACCURACY),     # Table 8: token-level weighting beats sentence-level
    ("dft", "dft-geometric", "final", ACCURACY),    # ... and the geometric mean
    ("sft", "dft", "peak", schema.STEP),            # Figure 1: DFT reaches its peak sooner
    ("facts-sft", "facts-dft", "final", ACCURACY),  # the stated limitation: SFT absorbs new facts, DFT does not
)


def _claims(finals: pl.DataFrame, peaks: pl.DataFrame) -> list[pl.DataFrame]:
    out = []
    for a, b, checkpoint, value in CLAIMS:
        table = finals if checkpoint == "final" else peaks.with_columns(pl.col(schema.STEP).cast(pl.Float64))
        diff = paired_difference(table, a, b, value=value)
        label = f"{a} − {b}" + (" (step of peak)" if value == schema.STEP else "")
        out.append(diff.with_columns(pl.lit(label).alias("comparison"), pl.lit(checkpoint).alias("checkpoint")))
    return out


def _verdict(interval: dict) -> str:
    lo, hi = interval["lo"], interval["hi"]
    if lo is None:
        return "one seed: no interval"
    if lo == hi == 0:
        return "no difference (equal on every seed)"
    return "reproduced" if lo > 0 else "contradicted" if hi < 0 else "inconclusive"


# ---- probe tables ----------------------------------------------------------------------------------------
def final_tokens(cfg: ReplicationConfig, dataset: str = "train") -> pl.DataFrame:
    """The probed tokens of every chosen run's last probed checkpoint on `dataset`, with method and seed."""
    from probscope.analysis import load_tokens
    from probscope.runs import Run

    chosen = chosen_runs(cfg)
    names = [name for name in chosen if Run(Path(cfg.runs_root) / name).probed_steps(dataset)]
    if not names:
        return pl.DataFrame()
    return _with_method_and_seed(load_tokens(cfg.runs_root, runs=names, dataset=dataset), chosen)


POLARIZATION_SHARES = ("p<1e-4", "p<0.1", "p>=0.9")   # the lowest bin, the low tail, the highest bin


def polarization(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per method and seed: % of training tokens with p < 1e-4 (lowest bin), p < 0.1, and p ≥ 0.9 (highest)."""
    p = pl.col(schema.P)
    low_bin, low_tail, high_bin = POLARIZATION_SHARES
    return tokens.group_by(schema.METHOD, SEED).agg(
        (100 * (p < 1e-4).mean()).alias(low_bin), (100 * (p < 0.1).mean()).alias(low_tail),
        (100 * (p >= 0.9).mean()).alias(high_bin), pl.len().alias("tokens"),
    ).sort(schema.METHOD, SEED)


def low_roles(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per method and threshold (pooled over seeds): tokens below it and each role's share of them (%)."""
    rows = []
    for threshold in LOW_THRESHOLDS:
        low = tokens.filter(pl.col(schema.P) < threshold)
        counts = low.group_by(schema.METHOD, schema.ROLE).len()
        for (method,), group in counts.group_by(schema.METHOD):
            total = group["len"].sum()
            shares = {role: 100 * n / total for role, n in group.select(schema.ROLE, "len").iter_rows()}
            rows.append({schema.METHOD: method, "threshold": threshold, "tokens": total,
                         **{f"% {role}": shares.get(role, 0.0) for role in _roles(tokens)}})
    return pl.DataFrame(rows).sort(schema.METHOD, "threshold") if rows else pl.DataFrame()


def role_baseline(tokens: pl.DataFrame) -> pl.DataFrame:
    """Each role's share of all probed tokens (%): what the low-bin shares compare against."""
    total = len(tokens)
    return (tokens.group_by(schema.ROLE).len().with_columns((100 * pl.col("len") / total).alias("% of all tokens"))
            .drop("len").sort("% of all tokens", descending=True))


def _roles(tokens: pl.DataFrame) -> list[str]:
    return sorted(r for r in tokens[schema.ROLE].unique().to_list() if r is not None)


# ---- writing results/ ------------------------------------------------------------------------------------
def write_results(cfg: ReplicationConfig) -> Path:
    """Compute every table and figure from the runs and write them under cfg.results; returns that path."""
    from probscope.replication.figures import curves_figure, figure2, save, sweep_figure

    out = Path(cfg.results)
    out.mkdir(parents=True, exist_ok=True)
    finals, peaks = seed_table(cfg), peak_table(cfg)
    tokens = final_tokens(cfg)
    facts_tokens = final_tokens(cfg, "facts-train")
    tables: dict[str, pl.DataFrame] = {
        "gate": gate_attempts(cfg),
        "accuracy_final": over_seeds(finals, ACCURACY, [schema.METHOD, "benchmark"]),
        "accuracy_peak": over_seeds(peaks, ACCURACY, [schema.METHOD, "benchmark"]),
        "peak_step": over_seeds(peaks.with_columns(pl.col(schema.STEP).cast(pl.Float64)), schema.STEP,
                                [schema.METHOD, "benchmark"]),
        "claims": pl.concat([claim for claim in _claims(finals, peaks) if not claim.is_empty()]),
    }
    if not tokens.is_empty():
        pol = polarization(tokens).unpivot(index=[schema.METHOD, SEED], on=list(POLARIZATION_SHARES),
                                           variable_name="share", value_name="percent")
        tables["polarization"] = over_seeds(pol, "percent", ["share", schema.METHOD])
        # Figure 2's claim per seed: DFT grows both tails against SFT; do the other methods move like DFT?
        tables["polarization_claims"] = pl.concat([
            paired_difference(pol, method, "sft", value="percent", by=("share",))
            for method in pol[schema.METHOD].unique().sort().to_list() if method != "sft"])
        tables["low_roles"] = low_roles(tokens)
        tables["role_baseline"] = role_baseline(tokens)
        save(figure2(tokens), out / "figure2")
    if not facts_tokens.is_empty():
        tables["facts_polarization"] = over_seeds(polarization(facts_tokens), "p<0.1", [schema.METHOD])
    sweep = sweep_table(cfg)
    if not sweep.is_empty():
        last, best = _last_and_best(sweep, [schema.METHOD, LR, SEED, "benchmark"])
        tables["lr_sweep_final"] = over_seeds(last, ACCURACY, [schema.METHOD, LR, "benchmark"])
        tables["lr_sweep_peak"] = over_seeds(best, ACCURACY, [schema.METHOD, LR, "benchmark"])
        tables["lr_sweep_claims"] = pl.concat([
            paired_difference(last, "dft", "sft", by=(LR, "benchmark")).with_columns(pl.lit("final").alias("checkpoint")),
            paired_difference(best, "dft", "sft", by=(LR, "benchmark")).with_columns(pl.lit("peak").alias("checkpoint")),
        ])
        save(sweep_figure(sweep, REASONING_BENCHMARKS), out / "lr_sweep")
    acc = accuracy_table(cfg)
    save(curves_figure(acc, REASONING_BENCHMARKS), out / "learning_curves")
    for name, table in tables.items():
        table.write_csv(out / f"{name}.csv")
    timings = Path(cfg.runs_root) / TIMINGS_FILE
    (out / "RESULTS.md").write_text(render_markdown(cfg, tables, json.loads(timings.read_text()) if timings.is_file()
                                                    else {}))
    return out


def render_markdown(cfg: ReplicationConfig, tables: dict[str, pl.DataFrame], timings: dict[str, float]) -> str:
    from probscope.plots import markdown_table

    lines = ["# The built-in replication: results", "",
             f"Generated by `probscope replicate` (= `make replicate`) with seeds {cfg.seeds}, fine-tuning lr "
             f"{cfg.finetune_lr:g} for {cfg.finetune_steps} steps (checkpoints {cfg.checkpoints}), operand shift: "
             f"demonstrations use operands 0–{cfg.train_max_operand}, `builtin-test-shift` uses "
             f"{cfg.train_max_operand + 1}–9. Accuracy: greedy, 200 problems per split. Across seeds: mean "
             "[95% t-interval]; per-seed values in seed order. Every number below is computed from the runs.", ""]

    def section(title: str, text: str, name: str, columns: list[str] | None = None) -> None:
        if name in tables and not tables[name].is_empty():
            table = tables[name] if columns is None else tables[name].select(columns)
            lines.extend([f"## {title}", "", text, "", markdown_table(table, digits=3), ""])

    section("The gate: each seed's base before fine-tuning",
            f"A base must reach {cfg.gate:.0%} on `{GATE_BENCHMARK}`; a failing one is pretrained again, twice as long.",
            "gate")
    section("Generalization: accuracy at the last checkpoint", "`builtin-test-id`: unseen problems of the "
            f"demonstrations' kind; `{HELD_OUT}`: the held-out operands; `builtin-facts-test`: the facts runs.",
            "accuracy_final")
    section("Accuracy at each run's best checkpoint", "The peak of the learning curve (see learning_curves.png).",
            "accuracy_peak")
    section("Step of the best checkpoint", "Does DFT peak sooner?", "peak_step")
    section("Claims as paired differences over seeds",
            "Reproduced: the 95% interval of the per-seed difference lies above 0; contradicted: below 0.", "claims",
            ["comparison", "checkpoint", "benchmark", "n", "mean", "lo", "hi", "per_seed", "verdict"])
    section("The learning-rate sweep: accuracy at the last checkpoint", "Same steps and checkpoints at every "
            "learning rate; per seed the same base. ![lr sweep](lr_sweep.png)", "lr_sweep_final")
    section("The learning-rate sweep: accuracy at the best checkpoint", "", "lr_sweep_peak")
    section("The learning-rate sweep: DFT − SFT per learning rate", "", "lr_sweep_claims",
            ["comparison", "checkpoint", LR, "benchmark", "n", "mean", "lo", "hi", "per_seed", "verdict"])
    section("Polarization (Figure 2): % of training tokens", "Last checkpoint, probed on the first "
            f"{cfg.probe_examples} demonstrations. ![figure2](figure2.png)", "polarization",
            ["share", schema.METHOD, "n", "mean", "lo", "hi", "per_seed"])
    section("Polarization against SFT, paired by seed", "Each method's share minus SFT's on the same seed (the "
            "same base): DFT polarizes when both its low shares and its p ≥ 0.9 share exceed SFT's.",
            "polarization_claims", ["comparison", "share", "n", "mean", "lo", "hi", "per_seed", "verdict"])
    section("Who fills the lowest bins", "Share of the tokens below each threshold by ground-truth role (%), pooled "
            "over seeds.", "low_roles")
    section("Roles among all probed tokens", "", "role_baseline")
    section("Facts (the stated limitation): % of facts-train tokens below p = 0.1", "", "facts_polarization")
    if timings:
        lines += ["## Time per stage (seconds, this machine)", "",
                  markdown_table(pl.DataFrame({"stage": list(timings), "seconds": list(timings.values())})), ""]
    lines += ["![learning curves](learning_curves.png)", ""]
    return "\n".join(lines)
