"""results/: the replication's tables (RESULTS.md, one CSV per table) and figures (png + pdf), computed from the
runs of a replication (probscope.replication.pipeline) and nothing else.

    from probscope.replication.report import seed_table, write_results
    finals = seed_table(ReplicationConfig())     # polars: method, seed, run, benchmark, step, accuracy

This module reads the runs into per-seed tables and writes results/; the claims and their statistics are
claims.py's, the token tables token_tables.py's, the text markdown.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.replication import claims
from probscope.replication.config import ReplicationConfig
from probscope.replication.layout import read_gate, read_timings, samples_dir
from probscope.replication.methods import (
    HELD_OUT,
    HELD_OUT_SPLIT,
    IN_DISTRIBUTION,
    METHODS,
    REASONING_BENCHMARKS,
    parse_run_name,
)
from probscope.replication.stats import t_interval
from probscope.replication.token_tables import POLARIZATION_SHARES, SEED
from probscope.runs import BUILTIN_DATA, write_text_atomic

ACCURACY = "accuracy"
BASE = "base"
LR = "lr"
# a column the RL trainers log (schema.FRAC_REWARD_ZERO_STD once the RL work lands): read when present
FRAC_REWARD_ZERO_STD = "frac_reward_zero_std"


# ---- reading the runs ------------------------------------------------------------------------------------
def gate_attempts(cfg: ReplicationConfig) -> pl.DataFrame:
    """Every base tried: seed, run, steps, its accuracy on both splits, the window it had to lie in, passed."""
    rows = [{SEED: int(seed), **attempt} for seed, attempts in read_gate(Path(cfg.runs_root)).items()
            for attempt in attempts]
    table = pl.DataFrame(rows, schema={SEED: pl.Int64, "run": pl.String, "steps": pl.Int64, IN_DISTRIBUTION: pl.Float64,
                                       HELD_OUT: pl.Float64, "passed": pl.Boolean})
    # in seed order, each seed's tries by length (the gate records them as they finish, seeds side by side)
    return table.sort(SEED, "steps").with_columns(pl.lit(cfg.gate_window()).alias("window"))


def chosen_runs(cfg: ReplicationConfig) -> dict[str, tuple[str, int]]:
    """run name -> (method, seed) of every run the results use: the base that passed each seed's gate (as
    "base") and every method run of the seeds in `cfg`."""
    seeds = set(cfg.seeds)
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
    """Each run's best fine-tuned checkpoint per benchmark: its accuracy and step (the learning curves' summary)."""
    return fine_tuned_peaks(accuracy_table(cfg), [schema.METHOD, SEED, schema.RUN, "benchmark"])


def fine_tuned_peaks(accuracy: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per group of `by`: the best checkpoint after step 0 (earliest among ties). Step 0 is the base itself, the
    baseline, never a fine-tune's peak; the base's own runs have no peak."""
    fine_tuned = accuracy.filter((pl.col(schema.METHOD) != BASE) & (pl.col(schema.STEP) > 0))
    return _last_and_best(fine_tuned, by)[1]


def sweep_table(cfg: ReplicationConfig) -> pl.DataFrame:
    """Every evaluated checkpoint of the sweep methods at every learning rate (the main runs at cfg.finetune_lr
    included): method, lr, seed, run, benchmark, step, accuracy."""
    from probscope.evaluate import load_evals

    seeds, sweep_methods = set(cfg.seeds), {name for name, _ in cfg.sweep()}
    lr_of = {name: (method, cfg.finetune_lr if lr is None else lr, seed)
             for name, (method, seed, lr) in _replication_runs(cfg).items()
             if seed in seeds and method in sweep_methods}
    if not lr_of:   # no sweep (an empty filter would read every run)
        return pl.DataFrame()
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


# ---- statistics over seeds ------------------------------------------------------------------------------
def over_seeds(table: pl.DataFrame, value: str, by: list[str]) -> pl.DataFrame:
    """Per group of `by`: n seeds, mean, lo, hi of `value`, and the per-seed values in seed order."""
    rows = []
    for key, group in table.sort(SEED).group_by(by, maintain_order=True):
        values = group[value].to_list()
        mean, lo, hi = t_interval(values)
        rows.append({**dict(zip(by, key, strict=False)), "n": len(values), "mean": mean, "lo": lo, "hi": hi,
                     "per_seed": ", ".join(f"{v:.3f}" for v in values)})
    return pl.DataFrame(rows, schema={**{b: table.schema[b] for b in by}, "n": pl.Int64, "mean": pl.Float64,
                                      "lo": pl.Float64, "hi": pl.Float64, "per_seed": pl.String})


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


def endpoint_table(finals: pl.DataFrame, peaks: pl.DataFrame, pol: pl.DataFrame,
                   logp: pl.DataFrame) -> pl.DataFrame:
    """Every per-seed endpoint of the claims in one long table (claims.ENDPOINT_SCHEMA), each with its bounds."""
    def part(frame: pl.DataFrame, endpoint: pl.Expr, value: pl.Expr,
             bounds: tuple[float, float] | None) -> pl.DataFrame:
        if frame.is_empty():
            return pl.DataFrame(schema=claims.ENDPOINT_SCHEMA)
        low, high = bounds or (None, None)
        return frame.select(schema.METHOD, SEED, endpoint.alias(claims.ENDPOINT),
                            value.cast(pl.Float64).alias(claims.VALUE), pl.lit(low, pl.Float64).alias(claims.LOW),
                            pl.lit(high, pl.Float64).alias(claims.HIGH))

    benchmark = pl.col("benchmark")
    parts = [
        part(finals, benchmark.map_elements(claims.final_accuracy, return_dtype=pl.String), pl.col(ACCURACY), (0, 1)),
        part(peaks, benchmark.map_elements(claims.peak_accuracy, return_dtype=pl.String), pl.col(ACCURACY), (0, 1)),
        part(peaks, benchmark.map_elements(claims.peak_step, return_dtype=pl.String), pl.col(schema.STEP), None),
        part(logp, pl.lit(claims.HELD_OUT_LOGP), pl.col("mean log p"), None),
        *(part(pol, pl.lit(claims.token_share(share)), pl.col(share), (0, 100)) for share in POLARIZATION_SHARES
          if share in pol.columns),
    ]
    return pl.concat(parts)


def why_not_run(cfg: ReplicationConfig) -> dict[str, str]:
    """method -> why this replication has no runs of it, for every method a claim names and the config leaves out."""
    named = {m for claim in (*claims.PRIMARY_ENDPOINTS, *claims.EXPLORATORY_CLAIMS) for m in (claim.a, claim.b)}
    reasons = {}
    for method in sorted(named - {BASE}):
        if method not in METHODS:
            reasons[method] = f"{method} is not a registered method of this version (probscope.replication.methods)"
        elif method not in cfg.methods:
            reasons[method] = f"{method} left out by --methods"
        elif method not in cfg.method_list():
            reasons[method] = (f"--smoke skips {method} (trained on the base's samples, which a smoke base never "
                               "gets right)")
    return reasons


def rl_diagnostics(cfg: ReplicationConfig) -> pl.DataFrame:
    """Per RL or sampled-data run: its reward statistics over the logged steps (mean reward, reward sd, share of
    groups with equal rewards where logged) and the rejection samples it trained on (acceptance, pairs)."""
    from probscope.analysis import load_dynamics
    from probscope.training.sampling import PROVENANCE

    root = Path(cfg.runs_root)
    chosen = {name: ms for name, ms in chosen_runs(cfg).items() if ms[0] != BASE}
    bases = {row[SEED]: row["run"] for row in gate_attempts(cfg).filter("passed").iter_rows(named=True)}
    dynamics = load_dynamics(root, runs=list(chosen)) if chosen else pl.DataFrame()
    rows = []
    for name, (method, seed) in chosen.items():
        logged = dynamics.filter(pl.col(schema.RUN) == name) if not dynamics.is_empty() else dynamics
        provenance = samples_dir(root, bases.get(seed, "")) / PROVENANCE
        sampled = METHODS.get(method).sampled and provenance.is_file()
        preference = METHODS.get(method).data == "pairs"
        row = diagnostics_row(logged, json.loads(provenance.read_text()) if sampled else None,
                              _pairs_seen(root / name) if preference else None)
        if preference:
            row.update(heldout_pair_accuracy(root / name))
        if row:
            rows.append({schema.METHOD: method, SEED: seed, schema.RUN: name, **row})
    return pl.DataFrame(rows).sort(schema.METHOD, SEED) if rows else pl.DataFrame()


HELDOUT_REWARD_ACCURACY = "held-out pair reward accuracy"


def heldout_pair_accuracy(run_dir: Path) -> dict:
    """DPO's reward accuracy and pair count on held-out pairs at the run's last checkpoint (probscope pair-eval's
    file; empty when it was not scored)."""
    from probscope.evaluate.pairs import DEFAULT_NAME
    from probscope.runs import Run

    run = Run(run_dir)
    steps = run.checkpoint_steps()
    path = run.pair_eval_file(steps[-1], DEFAULT_NAME) if steps else None
    if path is None or not path.is_file():
        return {}
    result = json.loads(path.read_text())
    return {HELDOUT_REWARD_ACCURACY: result.get("reward_accuracy"), "held-out pairs": result.get("n_pairs"),
            "held-out mean margin": result.get("mean_margin")}


def _pairs_seen(run_dir: Path) -> int | None:
    """Optimizer steps x batch of a preference run (its manifest's trainer config), or None when not recorded."""
    from probscope.runs import Run

    trainer = Run(run_dir).read_manifest().config.get("trainer", {})
    steps, batch = trainer.get("max_steps"), trainer.get("per_device_train_batch_size")
    return steps * batch if isinstance(steps, int) and isinstance(batch, int) else None


# from the samples' provenance
SAMPLING_COUNTS = ("n_samples", "n_accepted", "acceptance_rate", "n_pairs", "n_frontier")


REWARD_FIRST, REWARD_LAST = "reward, first 10% of steps", "reward, last 10% of steps"
REWARD_RISE, RISE_LO, RISE_HI = "reward rise", "rise lo", "rise hi"
EPOCHS_OVER_PAIRS = "epochs over the pairs"


def diagnostics_row(logged: pl.DataFrame, provenance: dict | None, pairs_seen: int | None = None) -> dict:
    """One run's diagnostics: the mean over logged steps of each reward column it logged, the reward's rise from
    the first to the last 10% of its steps (Welch 95% interval over the steps' mean rewards), and the counts of
    the rejection samples it trained on, with the epochs `pairs_seen` pairs make over them (empty when it has
    none of these)."""
    row = {f"{column} (mean over steps)": logged[column].drop_nulls().mean()
           for column in (schema.REWARD_MEAN, schema.REWARD_STD, FRAC_REWARD_ZERO_STD)
           if column in logged.columns and logged[column].drop_nulls().len()}
    if schema.REWARD_MEAN in logged.columns and schema.STEP in logged.columns:
        row.update(reward_rise(logged))
    if provenance is not None:
        row.update({key: provenance.get(key) for key in SAMPLING_COUNTS})
        if pairs_seen and provenance.get("n_pairs"):
            row[EPOCHS_OVER_PAIRS] = pairs_seen / provenance["n_pairs"]
    return row


def reward_rise(logged: pl.DataFrame) -> dict:
    """Mean reward over the first and the last 10% of the logged steps (at least 2 steps each) and the rise
    between them with its Welch 95% interval (empty below 4 logged steps)."""
    from probscope.replication.stats import welch_interval

    rewards = logged.filter(pl.col(schema.REWARD_MEAN).is_not_null()).sort(schema.STEP)[schema.REWARD_MEAN]
    if rewards.len() < 4:
        return {}
    k = max(2, round(rewards.len() / 10))
    first, last = rewards.head(k).to_list(), rewards.tail(k).to_list()
    rise, lo, hi = welch_interval(first, last)
    return {REWARD_FIRST: sum(first) / k, REWARD_LAST: sum(last) / k, REWARD_RISE: rise, RISE_LO: lo, RISE_HI: hi}


def rl_targets(diagnostics: pl.DataFrame, finals: pl.DataFrame) -> pl.DataFrame:
    """Per RL method, over its seeds: does it train? GRPO and PPO: seeds whose reward rose with an interval
    above zero, the mean share of groups without signal; DPO: its in-distribution accuracy against its seed's base
    (the worst seed's drop in points)."""
    rows = []
    if not diagnostics.is_empty() and REWARD_RISE in diagnostics.columns:
        online = diagnostics.filter(pl.col(REWARD_RISE).is_not_null())
        for (method,), runs in online.group_by(schema.METHOD, maintain_order=True):
            zero_std = f"{FRAC_REWARD_ZERO_STD} (mean over steps)"
            rows.append({schema.METHOD: method, "seeds": runs.height,
                         "seeds with reward rise > 0 (interval)": int((runs[RISE_LO].fill_null(0.0) > 0).sum()),
                         "mean reward rise": runs[REWARD_RISE].mean(),
                         "mean frac_reward_zero_std": (runs[zero_std].mean() if zero_std in runs.columns
                                                       else None)})
    in_distribution = finals.filter(pl.col("benchmark") == IN_DISTRIBUTION)
    base = in_distribution.filter(pl.col(schema.METHOD) == BASE).select(SEED, pl.col(ACCURACY).alias("base"))
    preference = [m for m in in_distribution[schema.METHOD].unique() if m in METHODS and METHODS.get(m).data == "pairs"]
    for method in sorted(preference):
        drops = (in_distribution.filter(pl.col(schema.METHOD) == method).join(base, on=SEED)
                 .select((pl.col("base") - pl.col(ACCURACY)) * 100)).to_series()
        if drops.len():
            row = {schema.METHOD: method, "seeds": drops.len(),
                   f"worst drop below the base on {IN_DISTRIBUTION} (points)": drops.max(),
                   "seeds within 5 points of the base": int((drops <= 5).sum())}
            scored = (diagnostics.filter(pl.col(schema.METHOD) == method)[HELDOUT_REWARD_ACCURACY].drop_nulls()
                      if HELDOUT_REWARD_ACCURACY in diagnostics.columns else pl.Series([], dtype=pl.Float64))
            if scored.len():
                row |= {"mean held-out pair reward accuracy": scored.mean(),
                        "seeds with held-out reward accuracy > 0.5": int((scored > 0.5).sum())}
            rows.append(row)
    return pl.DataFrame(rows, strict=False) if rows else pl.DataFrame()


# ---- writing results/ ------------------------------------------------------------------------------------
def write_results(cfg: ReplicationConfig) -> Path:
    """Compute every table and figure from the runs and write them under cfg.results (and the README's marked
    results block, unless --smoke); returns that path."""
    from probscope.replication import token_tables
    from probscope.replication.figures import curves_figure, figure2, save, sweep_figure
    from probscope.replication.markdown import readme_block, render_markdown, rewrite_readme_block
    from probscope.replication.token_tables import polarization, read_task_record

    out = Path(cfg.results)
    out.mkdir(parents=True, exist_ok=True)
    task = read_task_record(Path(cfg.runs_root) / BUILTIN_DATA)
    acc = accuracy_table(cfg)
    finals, peaks = seed_table(cfg), peak_table(cfg)
    tokens, held_out = final_tokens(cfg), final_tokens(cfg, HELD_OUT_SPLIT)
    facts_tokens = final_tokens(cfg, "facts-train")
    pol = polarization(tokens) if not tokens.is_empty() else pl.DataFrame()
    logp = token_tables.held_out_logp(held_out) if not held_out.is_empty() else pl.DataFrame()
    endpoints = endpoint_table(finals, peaks, pol, logp)
    tables: dict[str, pl.DataFrame] = {
        "gate": gate_attempts(cfg),
        "accuracy_final": over_seeds(finals, ACCURACY, [schema.METHOD, "benchmark"]),
        "accuracy_peak": over_seeds(peaks, ACCURACY, [schema.METHOD, "benchmark"]),
        "peak_step": over_seeds(peaks.with_columns(pl.col(schema.STEP).cast(pl.Float64)), schema.STEP,
                                [schema.METHOD, "benchmark"]),
        "accuracy_by_step": acc,
        "claims": claims.claims_table(endpoints, claims.PRIMARY_ENDPOINTS, claims.EXPLORATORY_CLAIMS, why_not_run(cfg)),
        "rl_diagnostics": rl_diagnostics(cfg),
    }
    tables["rl_targets"] = rl_targets(tables["rl_diagnostics"], finals)
    if not logp.is_empty():
        tables["held_out_logp"] = over_seeds(logp, "mean log p", [schema.METHOD])
    if not pol.is_empty():
        long = pol.unpivot(index=[schema.METHOD, SEED], on=list(POLARIZATION_SHARES), variable_name="share",
                           value_name="percent")
        tables["polarization"] = over_seeds(long, "percent", ["share", schema.METHOD])
        # Figure 2's claim per seed: DFT grows both tails against SFT; do the other methods move like DFT?
        tables["polarization_claims"] = claims.rows_frame([
            claims.compare(endpoints, claims.Claim(method, "sft", claims.token_share(share), "Figure 2"))
            for share in POLARIZATION_SHARES for method in pol[schema.METHOD].unique().sort().to_list()
            if method != "sft"])
        tables["entropy_headroom"] = token_tables.entropy_headroom(pol, task)
        tables["low_roles"] = token_tables.low_roles(tokens)
        tables["role_baseline"] = token_tables.role_baseline(tokens, task)
        tables["low_roles_against_free"] = token_tables.low_roles_against_free(tables["low_roles"], task)
        save(figure2(tokens), out / "figure2")
    if not facts_tokens.is_empty():
        tables["facts_polarization"] = over_seeds(polarization(facts_tokens), "p<0.1", [schema.METHOD])
    sweep = sweep_table(cfg)
    if not sweep.is_empty():
        tables.update(_sweep_tables(sweep))
        save(sweep_figure(sweep, REASONING_BENCHMARKS), out / "lr_sweep")
    save(curves_figure(acc, REASONING_BENCHMARKS), out / "learning_curves")
    for name, table in tables.items():
        table.write_csv(out / f"{name}.csv")
    results_md = render_markdown(cfg, tables, task, read_timings(Path(cfg.runs_root)))
    write_text_atomic(out / "RESULTS.md", results_md)
    if not cfg.smoke and cfg.readme:
        rewrite_readme_block(Path(cfg.readme), "results", readme_block(tables, cfg, task))
    return out


def _sweep_tables(sweep: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The learning-rate sweep over seeds at its last and best fine-tuned checkpoints, and DFT − SFT per lr."""
    by = [schema.METHOD, LR, SEED, "benchmark"]
    last, best = _last_and_best(sweep, by)[0], fine_tuned_peaks(sweep, by)
    rows = []
    for checkpoint, table in (("final", last), ("peak", best)):
        for (lr, benchmark), group in table.group_by(LR, "benchmark", maintain_order=True):
            endpoint = f"accuracy on {benchmark} at lr {lr:g}, {checkpoint}"
            points = group.select(schema.METHOD, SEED, pl.lit(endpoint).alias(claims.ENDPOINT),
                                  pl.col(ACCURACY).alias(claims.VALUE), pl.lit(0.0).alias(claims.LOW),
                                  pl.lit(1.0).alias(claims.HIGH))
            rows.append(claims.compare(points, claims.Claim("dft", "sft", endpoint, "Table 1 per learning rate")))
    return {"lr_sweep_final": over_seeds(last, ACCURACY, [schema.METHOD, LR, "benchmark"]),
            "lr_sweep_peak": over_seeds(best, ACCURACY, [schema.METHOD, LR, "benchmark"]),
            "lr_sweep_by_step": sweep,
            "lr_sweep_claims": claims.rows_frame(rows)}
