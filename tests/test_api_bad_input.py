"""Bad numeric arguments to the notebook API (analysis, evaluation): each is refused at the boundary with a
one-line ProbscopeError naming the argument, instead of an empty, misread or silently wrong result.

    .venv/bin/pytest -q -m bad_input tests/test_api_bad_input.py
"""

import re

import polars as pl
import pytest

import probscope as ps
from probscope import schema
from probscope.errors import ProbscopeError
from probscope.evaluate import EvalOptions, SamplingSettings, load_problems, problem_results, summarize
from probscope.evaluate.benchmarks import BENCHMARKS
from probscope.evaluate.metrics import bootstrap_ci, pass_at_k

pytestmark = pytest.mark.bad_input


def tokens() -> pl.DataFrame:
    """Four target tokens of two examples under each of two methods, with every column the analyses read."""
    p = pl.Series([1e-5, 0.05, 0.5, 0.7, 0.95, 0.3, 1.0, 0.01])
    return pl.DataFrame({
        schema.METHOD: ["sft"] * 4 + ["dft"] * 4, schema.RUN: ["sft"] * 4 + ["dft"] * 4, schema.STEP: [1] * 8,
        schema.EXAMPLE_ID: ["e1", "e1", "e2", "e2"] * 2, schema.POSITION: [0, 1, 0, 1] * 2, schema.P: p,
        schema.LOGP: p.log(), schema.SUM_P2: [0.5] * 8,
        schema.TOKEN: ["So", ".", "7", "7"] * 2, schema.TOKEN_ID: [1, 2, 3, 3] * 2,
        schema.ROLE: ["connective", "punctuation", "number", "number"] * 2,
    })


T = tokens()
SFT, DFT = T.filter(method="sft"), T.filter(method="dft")

# (id, call, the message's beginning): one distinct bad input each
CASES = [
    ("listing-top-0", lambda: ps.lowest_bin_tokens(T, top=0), "top=0: must be an integer >= 1"),
    ("listing-top-negative", lambda: ps.lowest_bin_tokens(T, top=-3), "top=-3: must be an integer >= 1"),
    ("listing-top-float", lambda: ps.lowest_bin_tokens(T, top=2.5), "top=2.5: must be an integer >= 1"),
    ("listing-upper-2", lambda: ps.lowest_bin_tokens(T, upper=2), "upper=2: must be a number in (0, 1]"),
    ("listing-upper-0", lambda: ps.lowest_bin_tokens(T, upper=0), "upper=0: must be a number in (0, 1]"),
    ("listing-upper-negative", lambda: ps.lowest_bin_tokens(T, upper=-0.5), "upper=-0.5: must be a number in"),
    ("listing-upper-nan", lambda: ps.lowest_bin_tokens(T, upper=float("nan")), "upper=nan: must be a number in"),
    ("listing-upper-string", lambda: ps.lowest_bin_tokens(T, upper="0.1"), "upper='0.1': must be a number in"),
    ("listing-lower-above-1", lambda: ps.lowest_bin_tokens(T, lower=1.5, upper=None),
     "lower=1.5: must be a number in [0, 1]"),
    ("listing-lower-not-below-upper", lambda: ps.lowest_bin_tokens(T, lower=0.5, upper=0.1),
     "lower=0.5 >= upper=0.1"),
    ("role-shares-upper", lambda: ps.role_shares(T, upper=1.01), "upper=1.01: must be a number in (0, 1]"),
    ("left-behind-below-0", lambda: ps.left_behind_tokens(T, below=0), "below=0: must be a number in (0, 1]"),
    ("left-behind-below-1.5", lambda: ps.left_behind_tokens(T, below=1.5), "below=1.5: must be a number in (0, 1]"),
    ("left-behind-top-0", lambda: ps.left_behind_tokens(T, top=0), "top=0: must be an integer >= 1"),
    ("left-behind-roles-below", lambda: ps.left_behind_by_role(T, below=-1), "below=-1: must be a number in"),
    ("end-of-reply-below", lambda: ps.end_of_reply(T, below=2), "below=2: must be a number in (0, 1]"),
    ("left-behind-table-below", lambda: ps.left_behind_table(T, below=0.0), "below=0.0: must be a number in"),
    ("movers-top-0", lambda: ps.token_movers(SFT, DFT, top=0), "top=0: must be an integer >= 1"),
    ("movers-min-count-0", lambda: ps.token_movers(SFT, DFT, min_count=0), "min_count=0: must be an integer >= 1"),
    ("movers-by", lambda: ps.token_movers(SFT, DFT, by="word"), "token movers: by='word' is not one of"),
    ("statistics-n-boot-negative", lambda: ps.distribution_statistics(SFT, DFT, n_boot=-1),
     "n_boot=-1: must be an integer >= 0"),
    ("statistics-confidence-1", lambda: ps.distribution_statistics(SFT, DFT, confidence=1.0),
     "confidence=1.0: must be a number in (0, 1)"),
    ("statistics-confidence-0", lambda: ps.distribution_statistics(SFT, DFT, confidence=0),
     "confidence=0: must be a number in (0, 1)"),
    ("statistics-confidence-percent", lambda: ps.pairwise_statistics(T, confidence=95),
     "confidence=95: must be a number in (0, 1)"),
    ("statistics-grid", lambda: ps.distribution_statistics(SFT, DFT, grid=4), "grid=4: must be an integer >= 16"),
    ("gradient-floor", lambda: ps.gradient_mass_by_bin(T, floor=-3), "floor=-3: must be a number in [0, 1]"),
    ("gradient-q", lambda: ps.gradient_weights(T, q=-1), "q=-1: must be a number in [0, inf)"),
    ("diagnose-below", lambda: ps.diagnose("no-such-runs", "dft", below=0), "below=0: must be a number in (0, 1]"),
    ("diagnose-top", lambda: ps.diagnose("no-such-runs", "dft", top=0), "top=0: must be an integer >= 1"),
    ("dynamics-below", lambda: ps.dynamics_curves(pl.DataFrame(), below=0.15), "share below p=0.15: not a"),
    ("sampling-k-0", lambda: SamplingSettings(k=0), "k=0: must be an integer >= 1"),
    ("sampling-temperature", lambda: SamplingSettings(temperature=-0.1),
     "temperature=-0.1: must be a number in [0, inf)"),
    ("sampling-top-p-0", lambda: SamplingSettings(top_p=0), "top_p=0: must be a number in (0, 1]"),
    ("sampling-top-p-1.5", lambda: SamplingSettings(top_p=1.5), "top_p=1.5: must be a number in (0, 1]"),
    ("sampling-max-new-tokens", lambda: SamplingSettings(max_new_tokens=0), "max_new_tokens=0: must be an integer"),
    ("options-shard-size", lambda: EvalOptions(shard_size=0), "shard_size=0: must be an integer >= 1"),
    ("options-batch-size", lambda: EvalOptions(batch_size=-1), "batch_size=-1: must be an integer >= 1"),
    ("options-grade-workers", lambda: EvalOptions(grade_workers=0), "grade_workers=0: must be an integer >= 1"),
    ("evaluate-limit-0", lambda: ps.evaluate_runs("no-such-runs", "builtin-test-id", limit=0),
     "limit=0: must be an integer >= 1"),
    ("problems-limit-negative", lambda: load_problems(BENCHMARKS.get("builtin-test-id"), limit=-1),
     "limit=-1: must be an integer >= 1"),
    ("summarize-k-0", lambda: summarize([[True, False]], k=0), "k=0: must be an integer >= 1"),
    ("pass-at-k-negative-k", lambda: pass_at_k(4, 2, -1), "k=-1: must be an integer >= 1"),
    ("pass-at-k-c-above-n", lambda: pass_at_k(4, 5, 1), "c=5: more correct samples than samples (n=4)"),
    ("bootstrap-resamples", lambda: bootstrap_ci([0.5, 1.0], resamples=0), "resamples=0: must be an integer >= 1"),
    ("bootstrap-confidence", lambda: bootstrap_ci([0.5, 1.0], confidence=1.2), "confidence=1.2: must be a number"),
    ("grade-workers", lambda: ps.grade_all(["1"], ["1"], workers=0), "workers=0: must be an integer >= 1"),
    ("grade-time-limit", lambda: ps.grade_all(["1"], ["1"], time_limit=0), "time_limit=0: must be a number in (0"),
    ("lm-eval-step", lambda: ps.load_lm_eval_results("nowhere.json", step=-1), "step=-1: must be an integer >= 0"),
    ("problem-results-step", lambda: problem_results("no-such-runs", "sft", -2, "bench"),
     "step=-2: must be an integer >= 0"),
    ("curves-metric", lambda: ps.accuracy_curves(pl.DataFrame(), metric="acc"), "metric 'acc': choose"),
]


@pytest.mark.parametrize(("call", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_argument_is_one_line_naming_it(call, message):
    with pytest.raises(ProbscopeError, match="^" + re.escape(message)) as error:
        call()
    assert "\n" not in str(error.value)


def test_cases_are_distinct():
    assert len({case[0] for case in CASES}) == len(CASES) >= 25


def test_the_boundary_values_themselves_are_accepted():
    assert ps.lowest_bin_tokens(T, upper=1.0, top=1).height == 2              # p < 1: one token per method
    assert ps.lowest_bin_tokens(T, lower=0.0, upper=None)["count"].sum() == T.height
    assert ps.distribution_statistics(SFT, DFT, n_boot=0)["ci_low"].is_nan().all()   # point values only
    assert SamplingSettings(k=1, temperature=0.0, top_p=1.0).greedy
    assert pass_at_k(4, 0, 4) == 0.0 and bootstrap_ci([1.0], resamples=1) == (1.0, 1.0)
