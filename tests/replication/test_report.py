"""The report's claims, token tables and text on synthetic per-seed tables, against independent computations."""

import numpy as np
import polars as pl
import pytest

from probscope import schema
from probscope.errors import ProbscopeError
from probscope.replication import ReplicationConfig, claims, markdown, report, token_tables


def _endpoints(values: dict[str, list[float]], endpoint: str = "e", bounds=(0.0, 1.0)) -> pl.DataFrame:
    rows = [{schema.METHOD: m, claims.SEED: s, claims.ENDPOINT: endpoint, claims.VALUE: v, claims.LOW: bounds[0],
             claims.HIGH: bounds[1]} for m, vs in values.items() for s, v in enumerate(vs)]
    return pl.DataFrame(rows, schema=claims.ENDPOINT_SCHEMA)


def test_a_claim_row_matches_scipy_and_brute_force():
    from scipy import stats as scipy_stats

    a = [0.62, 0.55, 0.71, 0.48, 0.66, 0.59, 0.70, 0.52]
    b = [0.50, 0.52, 0.60, 0.47, 0.51, 0.55, 0.58, 0.50]
    row = claims.compare(_endpoints({"a": a, "b": b}), claims.Claim("a", "b", "e", "test"))
    d = np.subtract(a, b)
    assert row["mean"] == pytest.approx(d.mean())
    assert (row["lo"], row["hi"]) == pytest.approx(scipy_stats.t.interval(0.95, 7, d.mean(), scipy_stats.sem(d)))
    # every difference positive: only the all-plus and all-minus patterns are as extreme
    assert row["sign-flip p"] == pytest.approx(2 / 2 ** 8)
    assert row["verdict"] == "reproduced" and row["n"] == 8


def test_primary_claims_are_holm_corrected_and_exploratory_ones_are_not():
    up = [0.1, 0.2, 0.15, 0.3, 0.12, 0.25, 0.18, 0.22]
    table = pl.concat([
        _endpoints({"a": [0.5 + x for x in up], "b": [0.5] * 8}, "one"),
        _endpoints({"a": [0.5 + x for x in up[:5]] + [0.45, 0.5, 0.55], "b": [0.5] * 8}, "two"),
    ])
    primary = [claims.Claim("a", "b", "one", "first"), claims.Claim("a", "b", "two", "second")]
    result = claims.claims_table(table, primary, [claims.Claim("a", "b", "two", "again")], {})
    raw = result["sign-flip p"].to_list()
    # Holm by hand: the smaller p times 2, the larger max(that, its own p times 1)
    low, high = sorted(raw[:2])
    expected = {low: 2 * low, high: max(2 * low, high)}
    assert result["Holm p"].to_list()[:2] == pytest.approx([expected[p] for p in raw[:2]])
    assert result["Holm p"].to_list()[2] is None and result["role"].to_list() == ["primary", "primary", "exploratory"]
    assert result["verdict"][0] == "reproduced"


def test_both_sides_at_a_bound_are_not_measurable_and_a_missing_method_is_not_run():
    table = _endpoints({"a": [1.0, 1.0, 1.0], "b": [1.0, 1.0, 1.0]})
    assert claims.compare(table, claims.Claim("a", "b", "e", "x"))["verdict"] == "not measurable (ceiling)"
    missing = claims.compare(table, claims.Claim("a", "ppo", "e", "x"), why_not_run="ppo: not registered")
    assert missing["verdict"] == "not run: ppo: not registered" and missing["n"] == 0
    assert claims.compare(table, claims.Claim("a", "ppo", "e", "x"))["verdict"] == "not run: no finished runs of ppo"


def test_peaks_are_found_among_fine_tuned_checkpoints_only():
    acc = pl.DataFrame({schema.METHOD: ["sft"] * 3 + ["base"], claims.SEED: [0] * 4, "benchmark": ["x"] * 4,
                        schema.STEP: [0, 10, 20, 0], report.ACCURACY: [0.9, 0.5, 0.6, 0.9]})
    peaks = report.fine_tuned_peaks(acc, [schema.METHOD, claims.SEED, "benchmark"])
    assert peaks.select(schema.METHOD, schema.STEP, report.ACCURACY).rows() == [("sft", 20, 0.6)]


def test_why_not_run_names_each_missing_method():
    reasons = report.why_not_run(ReplicationConfig(methods="sft,dft,rft", smoke=True))
    assert reasons["ppo"].startswith("ppo is not a registered method") or reasons["ppo"] == "ppo left out by --methods"
    assert reasons["dft-offline"] == "dft-offline left out by --methods"
    assert reasons["rft"].startswith("--smoke skips rft") and "sft" not in reasons


def test_rl_diagnostics_average_the_logged_rewards_and_keep_the_sampling_counts():
    logged = pl.DataFrame({schema.REWARD_MEAN: [0.2, None, 0.6], schema.REWARD_STD: [0.1, 0.3, None],
                           report.FRAC_REWARD_ZERO_STD: [1.0, 0.5, 0.0]})
    row = report.diagnostics_row(logged, {"n_samples": 40, "n_accepted": 10, "acceptance_rate": 0.25, "n_pairs": 7,
                                          "n_frontier": 3, "policy": "ignored"})
    assert row["reward_mean (mean over steps)"] == pytest.approx(0.4)    # nulls are steps that did not log it
    assert row["reward_std (mean over steps)"] == pytest.approx(0.2)
    assert row["frac_reward_zero_std (mean over steps)"] == pytest.approx(0.5)
    assert {k: row[k] for k in report.SAMPLING_COUNTS} == {"n_samples": 40, "n_accepted": 10, "acceptance_rate": 0.25,
                                                           "n_pairs": 7, "n_frontier": 3}
    assert report.diagnostics_row(pl.DataFrame({schema.REWARD_MEAN: [None]}, schema={schema.REWARD_MEAN: pl.Float64}),
                                  None) == {}


# ---- token tables --------------------------------------------------------------------------------------------
def test_polarization_counts_the_extreme_bins():
    p = [1e-5, 0.05, 0.5, 0.95, 0.99, 1.0, 0.2, 0.91]
    tokens = pl.DataFrame({schema.METHOD: ["dft"] * 8, token_tables.SEED: [0] * 8, schema.P: p})
    row = token_tables.polarization(tokens).row(0, named=True)
    assert row["p<1e-4"] == pytest.approx(100 / 8) and row["p<0.1"] == pytest.approx(200 / 8)
    assert row["p>=0.9"] == pytest.approx(400 / 8) and row["tokens"] == 8


def test_low_roles_shares_sum_to_100_per_threshold():
    tokens = pl.DataFrame({schema.METHOD: ["dft"] * 4, schema.P: [1e-5, 5e-3, 0.05, 0.9],
                           schema.ROLE: ["connective", "number", "connective", "answer"]})
    table = token_tables.low_roles(tokens)
    assert table["threshold"].to_list() == list(token_tables.LOW_THRESHOLDS)
    assert table["tokens"].to_list() == [1, 1, 2, 3]
    at_01 = table.filter(pl.col("threshold") == 0.1).row(0, named=True)
    assert at_01["% connective"] == pytest.approx(200 / 3) and at_01["% answer"] == 0.0
    assert all(np.isclose(s, 100) for s in table.select(pl.col("^% .*$")).sum_horizontal().to_list())


def test_role_baseline_sets_the_free_positions_beside_the_probed_tokens():
    tokens = pl.DataFrame({schema.ROLE: ["connective", "number", "number", "answer"]})
    task = {"entropy_bound": {"share_p_ge_0.9": 0.6, "free_role_shares": {"connective": 0.75, "number": 0.25},
                              "role_shares": {"connective": 0.2, "number": 0.5, "answer": 0.3}}}
    table = {row[schema.ROLE]: row for row in token_tables.role_baseline(tokens, task).iter_rows(named=True)}
    assert table["number"]["% of probed tokens"] == pytest.approx(50.0)
    assert table["connective"]["% of non-deterministic positions"] == "75.0"
    assert table["answer"]["% of non-deterministic positions"] == "0.0"
    unrecorded = token_tables.role_baseline(tokens, {})
    assert set(unrecorded["% of reply positions"]) == {token_tables.NOT_RECORDED}


def test_low_roles_are_set_against_the_free_positions():
    tokens = pl.DataFrame({schema.METHOD: ["dft"] * 4, schema.P: [1e-5, 5e-3, 0.05, 0.9],
                           schema.ROLE: ["connective", "number", "connective", "answer"]})
    low = token_tables.low_roles(tokens)
    task = {"entropy_bound": {"free_role_shares": {"connective": 0.9, "number": 0.1}}}
    table = {row[schema.ROLE]: row for row in token_tables.low_roles_against_free(low, task).iter_rows(named=True)}
    assert table["connective"]["% of tokens below 0.1"] == pytest.approx(200 / 3)
    assert table["connective"]["excess (points)"] == pytest.approx(200 / 3 - 90)
    assert table["number"]["excess (points)"] == pytest.approx(100 / 3 - 10)
    assert table["answer"]["% of non-deterministic positions"] == 0.0
    unrecorded = token_tables.low_roles_against_free(low, {})
    assert unrecorded["% of non-deterministic positions"].null_count() == unrecorded.height


def test_entropy_headroom_per_seed_against_the_bound():
    pol = pl.DataFrame({schema.METHOD: ["base", "base", "sft", "sft"], token_tables.SEED: [0, 1, 0, 1],
                        "p>=0.9": [50.0, 70.0, 60.0, 71.0]})
    table = token_tables.entropy_headroom(pol, {"entropy_bound": {"share_p_ge_0.9": 0.8}})
    assert table["base below the bound (points)"].to_list() == pytest.approx([30.0, 10.0])
    assert table["sft − base (points)"].to_list() == pytest.approx([10.0, 1.0])
    assert token_tables.limitation_applies(table) is True          # seed 1 sits 10 points from the bound
    assert token_tables.limitation_applies(token_tables.entropy_headroom(pol, {})) is None


def test_held_out_logp_is_the_mean_over_target_tokens():
    logp = [-0.1, -2.0, -0.5, -3.0, -0.01]
    tokens = pl.DataFrame({schema.METHOD: ["sft"] * 3 + ["dft"] * 2, token_tables.SEED: [0] * 5, schema.LOGP: logp})
    table = {row[schema.METHOD]: row["mean log p"] for row in token_tables.held_out_logp(tokens).iter_rows(named=True)}
    assert table == pytest.approx({"sft": np.mean(logp[:3]), "dft": np.mean(logp[3:])})


# ---- the text ------------------------------------------------------------------------------------------------
def test_the_readme_block_is_rewritten_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- results:begin -->\nhand-copied numbers\n<!-- results:end -->\nafter\n")
    row = claims.compare(_endpoints({"dft": [0.6, 0.7], "sft": [0.5, 0.5]}, claims.final_accuracy("x")),
                         claims.Claim("dft", "sft", claims.final_accuracy("x"), "Table 1"))
    tables = {"claims": claims.rows_frame([row]),
              "accuracy_final": pl.DataFrame({schema.METHOD: ["dft"], "benchmark": ["builtin-test-shift"],
                                              "mean": [0.65], "lo": [0.1], "hi": [1.2]})}
    markdown.rewrite_readme_block(readme, "results", markdown.readme_block(tables, ReplicationConfig(seeds="0,1"),
                                                                         {"facts_guess_floor": 0.1}))
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "hand-copied" not in text
    assert "0.65 [0.1, 1.2]" in text and "**Inconclusive** (1)" in text and "guessing floor of 10.0%" in text
    assert "near-deterministic (low-entropy)" not in text   # no headroom table: the limitation is not claimed
    tables["entropy_headroom"] = pl.DataFrame({"base below the bound (points)": [30.0, 4.0]})
    assert "near-deterministic (low-entropy)" in markdown.readme_block(tables, ReplicationConfig(), {})


@pytest.mark.bad_input
def test_a_readme_without_markers_is_a_one_line_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no block here\n")
    with pytest.raises(ProbscopeError, match="no '<!-- results:begin -->'") as caught:
        markdown.rewrite_readme_block(readme, "results", "body")
    assert str(caught.value).startswith(str(readme)) and len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(("verdict", "kind"), [
    ("reproduced", "reproduced"), ("contradicted", "contradicted"), ("not measurable (floor)", "could not be measured"),
    ("not run: ppo left out by --methods", "could not be measured"), ("inconclusive", "inconclusive"),
    ("inconclusive (sign-flip p = 0.25; the interval alone says reproduced)", "inconclusive"),
])
def test_every_verdict_has_one_outcome(verdict, kind):
    assert markdown.outcome(verdict) == kind


def test_reward_rise_compares_the_first_and_last_tenth_of_the_steps():
    rewards = [0.1, 0.3] + [0.5] * 16 + [0.7, 0.9]      # 20 steps: 2 at each end
    logged = pl.DataFrame({schema.STEP: list(range(20))[::-1], schema.REWARD_MEAN: rewards[::-1]})
    rise = report.reward_rise(logged)
    assert rise[report.REWARD_FIRST] == pytest.approx(0.2) and rise[report.REWARD_LAST] == pytest.approx(0.8)
    assert rise[report.REWARD_RISE] == pytest.approx(0.6) and rise[report.RISE_LO] < 0.6 < rise[report.RISE_HI]
    assert report.reward_rise(logged.head(3)) == {}


def test_rl_targets_count_seeds_that_train_and_dpo_drops_below_the_base():
    diagnostics = pl.DataFrame({schema.METHOD: ["grpo", "grpo", "ppo", "dpo", "dpo"],
                                report.REWARD_RISE: [0.1, 0.05, -0.01, None, None],
                                report.RISE_LO: [0.02, -0.01, -0.05, None, None],
                                "frac_reward_zero_std (mean over steps)": [0.2, 0.4, None, None, None],
                                report.HELDOUT_REWARD_ACCURACY: [None, None, None, 0.6, 0.45]})
    finals = pl.DataFrame({schema.METHOD: ["base", "base", "dpo", "dpo"], token_tables.SEED: [0, 1, 0, 1],
                           "benchmark": ["builtin-test-id"] * 4, report.ACCURACY: [1.0, 0.9, 0.99, 0.8]})
    targets = {row[schema.METHOD]: row for row in report.rl_targets(diagnostics, finals).iter_rows(named=True)}
    assert targets["grpo"]["seeds with reward rise > 0 (interval)"] == 1
    assert targets["grpo"]["mean frac_reward_zero_std"] == pytest.approx(0.3)
    assert targets["ppo"]["seeds with reward rise > 0 (interval)"] == 0
    assert targets["dpo"]["worst drop below the base on builtin-test-id (points)"] == pytest.approx(10.0)
    assert targets["dpo"]["seeds within 5 points of the base"] == 1
    assert targets["dpo"]["mean held-out pair reward accuracy"] == pytest.approx(0.525)
    assert targets["dpo"]["seeds with held-out reward accuracy > 0.5"] == 1


def test_the_text_names_the_seeds_that_contributed_and_why_the_others_did_not():
    cfg = ReplicationConfig(seeds=[0, 1, 2, 3])
    gate = pl.DataFrame({claims.SEED: [0, 1, 1, 2, 3], "passed": [True, False, True, False, True]})
    accuracy = pl.DataFrame({schema.METHOD: ["base", "sft", "base", "dft", "base"], claims.SEED: [0, 0, 1, 1, 3]})
    text = markdown.seeds_text(cfg, {"gate": gate, "accuracy_by_step": accuracy})
    # seed 1 passed on its second try; seed 3's base passed but no fine-tune was evaluated
    assert text == "seeds 0, 1 (of the requested 0, 1, 2, 3; no base inside the gate: 2; not run: 3)"
    everything = accuracy.vstack(pl.DataFrame({schema.METHOD: ["sft"], claims.SEED: [3]}))
    assert markdown.seeds_text(ReplicationConfig(seeds=[0, 1, 3]), {"gate": gate, "accuracy_by_step": everything}) \
        == "seeds 0, 1, 3"


def test_the_gate_table_is_in_seed_order_whatever_order_the_bases_finished(tmp_path):
    from probscope.replication import layout

    def attempt(run: str, steps: int, passed: bool) -> dict:
        return {"run": run, "steps": steps, "builtin-test-id": 1.0, "builtin-test-shift": 0.5, "passed": passed}

    # recorded as the side-by-side workers finished: seed 10, then 2's second try before its first, then 1
    layout.write_gate(tmp_path, {"10": [attempt("base-s10", 800, True)],
                                 "2": [attempt("base-s2-try2", 1000, True), attempt("base-s2", 800, False)],
                                 "1": [attempt("base-s1", 800, True)]})
    table = report.gate_attempts(ReplicationConfig(runs_root=str(tmp_path), seeds=[1, 2, 10]))
    assert table["run"].to_list() == ["base-s1", "base-s2", "base-s2-try2", "base-s10"]
