"""The text of the replication's results: RESULTS.md, and the README's marked results block, both written from
the tables report.write_results computed (never by hand).

The summary sorts every claim into what reproduced, what was contradicted, what stayed inconclusive and what
could not be measured (a bound, a missing method, one seed), primary endpoints first.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError
from probscope.replication import claims
from probscope.replication.config import ReplicationConfig
from probscope.replication.methods import FACTS_BENCHMARKS, HELD_OUT, IN_DISTRIBUTION
from probscope.replication.token_tables import (
    HEADROOM_POINTS,
    LOW_ENTROPY_LIMITATION,
    NOT_RECORDED,
    limitation_applies,
)
from probscope.runs import write_text_atomic

GENERATED_NOTE = "<!-- generated from results/ by `probscope replicate[-continuum] --report-only`; do not edit -->"
OUTCOMES = ("reproduced", "contradicted", "inconclusive", "could not be measured")


def outcome(verdict: str) -> str:
    """Which of OUTCOMES a claim's verdict belongs to."""
    if verdict in ("reproduced", "contradicted"):
        return verdict
    if verdict.startswith(("not measurable", "not run", "one seed")):
        return "could not be measured"
    return "inconclusive"


def summary(claims_table: pl.DataFrame) -> list[str]:
    """Markdown bullets per outcome: each claim with its difference, interval, p-values and verdict."""
    lines = []
    for kind in OUTCOMES:
        rows = [row for row in claims_table.iter_rows(named=True) if outcome(row["verdict"]) == kind]
        lines += [f"**{kind.capitalize()}** ({len(rows)}):", ""]
        lines += [f"- {_claim_line(row)}" for row in rows] or ["- none"]
        lines.append("")
    return lines


def _claim_line(row: dict) -> str:
    head = f"{row['source']} — `{row['comparison']}`, {row[claims.ENDPOINT]} ({row['role']})"
    if row["mean"] is None:
        return f"{head}: {row['verdict']}"
    numbers = f"{_g(row['mean'])} [{_g(row['lo'])}, {_g(row['hi'])}] over {row['n']} seeds"
    tests = f"sign-flip p {_g(row['sign-flip p'])}" + (f", Holm p {_g(row['Holm p'])}" if row["Holm p"] is not None
                                                        else "")
    return f"{head}: {numbers}; {tests}; detectable at 80% power: ±{_g(row['min detectable'])}; **{row['verdict']}**"


def _g(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def method_table(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per method: last-checkpoint accuracy on both splits, the held-out replies' mean log p and the Figure 2
    shares, each a mean over seeds with its 95% interval."""
    def cells(table: pl.DataFrame, name: str, where: pl.Expr | None = None) -> pl.DataFrame:
        return (table if where is None else table.filter(where)).select(
            schema.METHOD, interval_column(name))

    columns = []
    if "accuracy_final" in tables:
        columns += [cells(tables["accuracy_final"], f"{b} accuracy", pl.col("benchmark") == b)
                    for b in (IN_DISTRIBUTION, HELD_OUT, *FACTS_BENCHMARKS)]
    if "held_out_logp" in tables:
        columns.append(cells(tables["held_out_logp"], f"{HELD_OUT} replies: mean log p"))
    if "polarization" in tables:
        columns += [cells(tables["polarization"], f"% tokens {share}", pl.col("share") == share)
                    for share in ("p<0.1", "p>=0.9")]
    columns = [c for c in columns if not c.is_empty()]
    if not columns:
        return pl.DataFrame()
    table = columns[0]
    for column in columns[1:]:
        table = table.join(column, on=schema.METHOD, how="full", coalesce=True)
    return table.sort(schema.METHOD)


def interval_column(name: str) -> pl.Expr:
    """A column `name` of "mean [lo, hi]" cells from an over-seeds table's mean, lo and hi."""
    return pl.struct("mean", "lo", "hi").map_elements(interval_cell, return_dtype=pl.String).alias(name)


def seeds_text(cfg: ReplicationConfig, tables: dict[str, pl.DataFrame]) -> str:
    """Which seeds the results come from: those with a fine-tuned run evaluated, then what became of the other
    requested seeds (no base inside the gate's window, or not run: a run cut short or --methods narrowed)."""
    from probscope.replication.report import BASE

    accuracy = tables.get("accuracy_by_step", pl.DataFrame())
    used = (set(accuracy.filter(pl.col(schema.METHOD) != BASE)[claims.SEED].to_list())
            if not accuracy.is_empty() else set())
    gate = tables.get("gate", pl.DataFrame())
    passed = set(gate.filter("passed")[claims.SEED].to_list()) if not gate.is_empty() else set()
    tried = set(gate[claims.SEED].to_list()) if not gate.is_empty() else set()
    failed = [seed for seed in cfg.seeds if seed in tried - passed]
    missing = [seed for seed in cfg.seeds if seed not in used and seed not in failed]

    def listed(seeds) -> str:
        return ", ".join(map(str, sorted(seeds))) or "none"

    text = f"seeds {listed(used)}"
    if failed or missing:
        text += f" (of the requested {listed(cfg.seeds)}"
        text += f"; no base inside the gate: {listed(failed)}" if failed else ""
        text += f"; not run: {listed(missing)}" if missing else ""
        text += ")"
    return text


def interval_cell(interval: dict) -> str:
    """mean [lo, hi] of a row of an over-seeds table (the mean alone with one seed)."""
    mean, lo, hi = interval["mean"], interval["lo"], interval["hi"]
    return f"{mean:.3g}" if lo is None else f"{mean:.3g} [{lo:.3g}, {hi:.3g}]"


def render_markdown(cfg: ReplicationConfig, tables: dict[str, pl.DataFrame], task: dict,
                    timings: dict[str, float]) -> str:
    from probscope.plots import markdown_table

    n_test = cfg.task().n_test
    lines = ["# The built-in replication: results", "",
             f"Generated by `probscope replicate` (= `make replicate`); results from {seeds_text(cfg, tables)}, "
             f"fine-tuning lr {cfg.finetune_lr:g} for {cfg.finetune_steps} steps (checkpoints "
             f"{', '.join(map(str, cfg.checkpoints))}), operand shift: demonstrations use operands "
             f"0–{cfg.train_max_operand}, `{HELD_OUT}` uses {cfg.train_max_operand + 1}–9. Accuracy: greedy, "
             f"{n_test} problems per split. Across seeds: mean [95% t-interval]; per-seed values in seed order. "
             "Every number below is computed from the runs.", "",
             "## Primary endpoints (declared in `probscope/replication/claims.py` before the runs)", "",
             *[f"{i}. `{c.comparison}`: {c.endpoint} — {c.source}" for i, c in
               enumerate(claims.PRIMARY_ENDPOINTS, 1)], "",
             f"Holm's correction runs across these {len(claims.PRIMARY_ENDPOINTS)} (on the exact sign-flip p, all "
             "2^n sign patterns); a primary claim is reproduced when its 95% t-interval lies above 0 and its "
             "Holm-adjusted p is below 0.05. Every other comparison is exploratory: its interval is not corrected. "
             "Peaks are the best fine-tuned checkpoint (step 0 is the base, the baseline). \"Not measurable "
             "(ceiling/floor)\": every seed of both sides sits at the bound, so no difference could show.", "",
             "## What reproduced, what did not, what could not be measured", "",
             *(summary(tables["claims"]) if "claims" in tables else [])]

    def section(title: str, text: str, name: str, columns: list[str] | None = None) -> None:
        if name in tables and not tables[name].is_empty():
            table = tables[name] if columns is None else tables[name].select(columns)
            lines.extend([f"## {title}", "", text, "", markdown_table(table, digits=3), ""])

    section("The gate: each seed's base before fine-tuning", f"A base is used only when {cfg.gate_window()}; "
            f"one under the window is pretrained again, {cfg.gate_growth:g} times as long (one over it cannot be "
            "brought back). Every base tried:", "gate")
    section("Every claim as a paired difference over seeds", "Same seed = same base. `min detectable`: the "
            "smallest true difference a two-sided paired t-test at 0.05 finds with 80% power, given the observed sd.",
            "claims", claims.CLAIM_COLUMNS)
    section("Generalization: accuracy at the last checkpoint", f"`{IN_DISTRIBUTION}`: unseen problems of the "
            f"demonstrations' kind; `{HELD_OUT}`: the held-out operands; `builtin-facts-test`: the facts runs. "
            "Per step and seed: accuracy_by_step.csv.", "accuracy_final")
    section("The held-out replies' mean log p", f"Teacher-forced mean log p of the `{HELD_OUT}` reference replies "
            "(target tokens pooled per run) at the last checkpoint: a lower-variance endpoint than greedy accuracy.",
            "held_out_logp")
    section("Accuracy at each run's best fine-tuned checkpoint", "The peak of the learning curve "
            "(learning_curves.png), step 0 excluded.", "accuracy_peak")
    section("Step of the best fine-tuned checkpoint", "Does DFT peak sooner?", "peak_step")
    _entropy_section(lines, tables, task, markdown_table)
    section("Polarization (Figure 2): % of training tokens", "Last checkpoint, probed on the first "
            f"{cfg.probe_examples} demonstrations. ![figure2](figure2.png)", "polarization",
            ["share", schema.METHOD, "n", "mean", "lo", "hi", "per_seed"])
    section("Polarization against SFT, paired by seed (exploratory)", "Each method's share minus SFT's on the same "
            "seed: DFT polarizes when both its low shares and its p ≥ 0.9 share exceed SFT's.", "polarization_claims",
            ["comparison", claims.ENDPOINT, "n", "mean", "lo", "hi", "sign-flip p", "per_seed", "verdict"])
    section("Who fills the lowest bins", "Share of the tokens below each threshold by ground-truth role (%), pooled "
            "over seeds. Compare with the roles' shares of the non-deterministic positions below: a role that holds "
            "every position the demonstrations leave open fills the low bins by construction.", "low_roles")
    section("The low tail against the free positions", "Per method: each role's share of the tokens below p = 0.1 "
            "beside its share of the non-deterministic positions (empty where the task does not record them).",
            "low_roles_against_free")
    section("Roles among all probed tokens, all reply positions and the non-deterministic positions",
            f"The last two from the task's record (task.json; \"{NOT_RECORDED}\" when the task does not write them).",
            "role_baseline")
    section("Facts (the stated limitation): % of facts-train tokens below p = 0.1",
            f"Facts recall has a guessing floor (a random valid value): {_floor(task)}; read facts accuracy "
            "(`builtin-facts-test` above) against it.", "facts_polarization")
    section("The learning-rate sweep: accuracy at the last checkpoint", "Same steps and checkpoints at every "
            "learning rate; per seed the same base. ![lr sweep](lr_sweep.png)", "lr_sweep_final")
    section("The learning-rate sweep: accuracy at the best fine-tuned checkpoint", "", "lr_sweep_peak")
    section("The learning-rate sweep: DFT − SFT per learning rate (exploratory)", "", "lr_sweep_claims",
            ["comparison", claims.ENDPOINT, "n", "mean", "lo", "hi", "sign-flip p", "per_seed", "verdict"])
    section("Do the RL baselines train?", "GRPO and PPO: a seed counts when its mean reward over the last 10% of "
            "steps exceeds the first 10% with a 95% Welch interval above zero; frac_reward_zero_std is the share of "
            "groups whose samples all got the same reward (no signal). DPO: in-distribution accuracy against the "
            "seed's base.", "rl_targets")
    section("RL and sampled-data diagnostics", "Per run: rewards over the logged steps (their rise from the first "
            "to the last 10% of steps), and the base's rejection samples the run trained on, with the epochs DPO "
            "made over its pairs (rl_diagnostics.csv).", "rl_diagnostics")
    if timings:
        lines += ["## Time per stage (seconds, this machine)", "",
                  markdown_table(pl.DataFrame({"stage": list(timings), "seconds": list(timings.values())})), ""]
    lines += ["![learning curves](learning_curves.png)", ""]
    return "\n".join(lines)


def _floor(task: dict) -> str:
    floor = task.get("facts_guess_floor")
    return f"{floor:.1%}" if isinstance(floor, (int, float)) else NOT_RECORDED


def _entropy_section(lines: list[str], tables: dict[str, pl.DataFrame], task: dict, markdown_table) -> None:
    """The base's demonstration tokens at p ≥ 0.9 against the task's entropy bound, per seed, and the authors'
    low-entropy limitation where a base sits close to the bound."""
    headroom = tables.get("entropy_headroom")
    if headroom is None or headroom.is_empty():
        return
    applies = limitation_applies(headroom)
    if applies is None:
        verdict = f"The task's entropy bound is {NOT_RECORDED} (task.json), so the headroom cannot be stated."
    elif applies:
        verdict = (f"At least one seed's base sits within {HEADROOM_POINTS:g} points of the bound: the "
                   "demonstrations are nearly deterministic to it, the regime the DFT authors name as a limitation "
                   f"(DFT is \"{LOW_ENTROPY_LIMITATION}\").")
    else:
        verdict = (f"Every seed's base sits at least {HEADROOM_POINTS:g} points below the bound: the demonstrations "
                   "have something to teach.")
    lines.extend(["## What the demonstrations can teach: the base against the task's entropy bound", "",
                  "Per seed: % of demonstration tokens the base and SFT put at p ≥ 0.9, against the share a model "
                  "that knew the demonstrations' distribution exactly would reach (the task's record). " + verdict, "",
                  markdown_table(headroom, digits=3), ""])


def readme_block(tables: dict[str, pl.DataFrame], cfg: ReplicationConfig, task: dict) -> str:
    """The README's results block: the method table and the summary of claims."""
    from probscope.plots import markdown_table

    lines = [f"Results from {seeds_text(cfg, tables)}; last checkpoints; mean [95% t-interval] over seeds; each "
             f"seed's base inside its gate ({cfg.gate_window()}); facts accuracy against a guessing floor of "
             f"{_floor(task)}. Every interval and test: `results/RESULTS.md`.", ""]
    table = method_table(tables)
    if not table.is_empty():
        lines += [markdown_table(table, digits=3), ""]
    headroom = tables.get("entropy_headroom")
    if headroom is not None and limitation_applies(headroom):
        lines += [f"A base sits within {HEADROOM_POINTS:g} points of the task's entropy bound on some seed: the "
                  "demonstrations are nearly deterministic to it, where the DFT authors expect DFT to be "
                  f"\"{LOW_ENTROPY_LIMITATION}\".", ""]
    if "claims" in tables:
        lines += summary(tables["claims"])
    return "\n".join(lines)


def rewrite_readme_block(readme: Path, name: str, body: str) -> None:
    """Replace the text between the README's `<!-- name:begin -->` and `<!-- name:end -->` markers with `body`
    (the rest of the file is left as it is)."""
    begin_marker, end_marker = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if not readme.is_file():
        raise ProbscopeError(f"{readme}: no README to write the {name} block into (set --readme '' for none)")
    text = readme.read_text()
    begin, end = text.find(begin_marker), text.find(end_marker)
    if begin < 0 or end < begin:
        raise ProbscopeError(f"{readme}: no '{begin_marker}' ... '{end_marker}' block to rewrite "
                             "(add the two markers where the results go, or set --readme '')")
    generated = f"{begin_marker}\n{GENERATED_NOTE}\n\n{body.strip()}\n{end_marker}"
    write_text_atomic(readme, text[:begin] + generated + text[end + len(end_marker):])
