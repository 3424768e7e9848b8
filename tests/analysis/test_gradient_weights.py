"""Gradient weights per token and the share of squared logit-gradient mass per bin, against numpy.

    .venv/bin/pytest tests/analysis/test_gradient_weights.py -q
"""

import numpy as np
import polars as pl
import pytest
from helpers import build_fixture_runs

import probscope as ps
from probscope import schema


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return ps.load_tokens(build_fixture_runs(tmp_path_factory.mktemp("runs")))


def test_weights_per_token_match_the_objectives_definitions():
    p = np.array([1e-6, 0.05, 0.3, 1.0])
    sum_p2 = np.array([0.5, 0.4, 0.2, 1.0])
    frame = pl.DataFrame({schema.P: p, schema.SUM_P2: sum_p2})
    weighted = ps.gradient_weights(frame, floor=0.1, q=0.5)
    assert weighted["w_sft"].to_list() == [1.0] * 4
    assert weighted["w_dft"].to_numpy() == pytest.approx(p)
    assert weighted["w_dft_floor"].to_numpy() == pytest.approx(np.maximum(p, 0.1))
    assert weighted["w_power"].to_numpy() == pytest.approx(np.sqrt(p))
    assert weighted["rl_w_sft"].to_numpy() == pytest.approx(1 / p)                # RL view: SFT 1/p, DFT 1
    assert weighted["rl_w_dft"].to_numpy() == pytest.approx(np.ones(4))
    assert weighted["grad_sq"].to_numpy() == pytest.approx(np.maximum(1 - 2 * p + sum_p2, 0))
    assert weighted["grad_sq"][3] == pytest.approx(0.0, abs=1e-12)               # a sure token pulls nothing


def test_mass_shares_match_a_numpy_reference(tokens):
    table = ps.gradient_mass_by_bin(tokens)
    edges = np.asarray(schema.BIN_EDGES)
    for method in ("sft", "dft"):
        rows = tokens.filter(method=method)
        p, grad_sq = rows["p"].to_numpy(), np.maximum(1 - 2 * rows["p"].to_numpy() + rows["sum_p2"].to_numpy(), 0)
        bin_of = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
        for objective, weight in (("sft", np.ones_like(p)), ("dft", p), ("dft-floor", np.maximum(p, 0.1)),
                                  ("power", np.sqrt(p))):
            mass = np.bincount(bin_of, weights=weight**2 * grad_sq, minlength=len(edges) - 1)
            got = table.filter(method=method, objective=objective).sort("bin")
            assert got["mass_share"].to_numpy() == pytest.approx(mass / mass.sum())
            assert got["token_share"].to_numpy() == pytest.approx(np.bincount(bin_of, minlength=13) / len(p))


def test_sft_spends_its_update_low_and_dft_high(tokens):
    """The point of the view: on DFT's own polarized tokens SFT's mass sits below p = 0.1, DFT's above."""
    table = ps.gradient_mass_by_bin(tokens.filter(method="dft"))
    below = (table.filter(pl.col("bin") < schema.BIN_EDGES.index(0.1))
             .group_by("objective").agg(pl.col("mass_share").sum()))
    below = dict(below.rows())
    assert below["sft"] > 0.5 > 0.05 > below["dft"]
