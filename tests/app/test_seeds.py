"""Runs grouped (probscope.app.seeds) against numpy/scipy, and the sidebar choice that groups them.

    .venv/bin/pytest tests/app/test_seeds.py -q
"""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
import pytest
from scipy import stats

from probscope import schema
from probscope.app.seeds import (
    CI_HIGH,
    CI_LOW,
    SEEDS,
    RunFacts,
    differing_keys,
    flat_config,
    fold,
    over_seeds,
    run_groups,
    seed_group,
    with_members,
)


def test_seed_group_strips_the_seed_and_what_follows():
    assert seed_group("sft-s3", 3) == "sft" and seed_group("sft-lr1e-05-s2", 2) == "sft-lr1e-05"
    assert seed_group("base-s3-try2", 3) == "base" and seed_group("sft", 0) == "sft"


def test_a_run_of_unknown_seed_is_its_own_group():   # manifests of add-run checkpoints carry seed None
    assert seed_group("sft-s3", None) == "sft-s3" and seed_group("sft-sNone", None) == "sft-sNone"


def test_mean_and_t_interval_over_seeds():
    percents = {"sft-s0": [10.0, 90.0], "sft-s1": [14.0, 86.0], "sft-s2": [12.5, 87.5], "dft": [40.0, 60.0]}
    table = pl.DataFrame([{schema.METHOD: run[:3], schema.RUN: run, schema.STEP: 10, "bin": b, "bin_label": str(b),
                           "count": 100, "percent": value} for run, values in percents.items()
                          for b, value in enumerate(values)])
    groups = {"sft-s0": "sft", "sft-s1": "sft", "sft-s2": "sft", "dft": "dft"}
    folded = over_seeds(table, groups).sort(schema.RUN, "bin")
    sft = folded.filter(pl.col(schema.RUN) == "sft", pl.col("bin") == 0).row(0, named=True)
    values = np.array([10.0, 14.0, 12.5])
    low, high = stats.t.interval(0.95, df=2, loc=values.mean(), scale=stats.sem(values))
    assert sft["percent"] == pytest.approx(values.mean()) and sft[SEEDS] == 3 and sft["count"] == 300
    assert (sft[CI_LOW], sft[CI_HIGH]) == pytest.approx((low, high))
    dft = folded.filter(pl.col(schema.RUN) == "dft", pl.col("bin") == 1).row(0, named=True)
    assert dft[CI_LOW] == dft[CI_HIGH] == dft["percent"] == 60.0                # one run: no interval


def facts(method: str, name: str, lr: float, seed: int, warmup: int = 0) -> RunFacts:
    return RunFacts(method, seed, flat_config({"run": {"name": name, "output_dir": f"runs/{name}", "seed": seed},
                                               "trainer": {"learning_rate": lr, "warmup_steps": warmup}}))


def test_runs_alike_but_for_one_config_key_form_a_group():
    runs = {"sft-lr1-s0": facts("sft", "sft-lr1-s0", 1e-5, 0), "sft-lr2-s0": facts("sft", "sft-lr2-s0", 2e-5, 0),
            "sft-lr1-s1": facts("sft", "sft-lr1-s1", 1e-5, 1), "dft-lr1-s0": facts("dft", "dft-lr1-s0", 1e-5, 0),
            "sft-w-s0": facts("sft", "sft-w-s0", 1e-5, 0, warmup=5)}
    assert differing_keys(runs) == ["run.name", "run.output_dir", "run.seed", "trainer.learning_rate",
                                    "trainer.warmup_steps"]
    by_lr = run_groups(runs, "trainer.learning_rate")
    # one method, the same settings but the learning rate (name, folder and seed set aside): one group
    assert by_lr["sft-lr1-s0"] == by_lr["sft-lr2-s0"] == by_lr["sft-lr1-s1"] == "sft-lr"
    assert by_lr["dft-lr1-s0"] == "dft-lr1-s0" and by_lr["sft-w-s0"] == "sft-w-s0"   # another method, another warmup
    by_seed = run_groups(runs, "seed")
    assert by_seed["sft-lr1-s0"] == by_seed["sft-lr1-s1"] == "sft-lr1" != by_seed["sft-lr2-s0"]


def test_fold_against_a_hand_computation():
    curves = pl.DataFrame({schema.METHOD: ["sft"] * 4 + ["dft"], schema.RUN: ["a", "b", "a", "b", "c"],
                           schema.STEP: [10, 10, 20, 20, 10], "loss": [1.0, 3.0, 0.5, 0.7, 2.0],
                           "acc": [0.2, 0.4, 0.6, 0.6, 0.1], "n": [5, 7, 5, 7, 9]})
    folded = fold(curves, {"a": "ab", "b": "ab"}, ["loss", "acc"], [schema.STEP], sums=["n"]).sort(schema.RUN,
                                                                                                  schema.STEP)
    ab10 = folded.row(0, named=True)
    # by hand: mean 2, sd sqrt(2), half-width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706
    assert (ab10[schema.RUN], ab10["loss"], ab10[SEEDS], ab10["n"]) == ("ab", 2.0, 2, 12)
    assert (ab10["loss_low"], ab10["loss_high"]) == pytest.approx((2 - 12.7062, 2 + 12.7062), abs=1e-3)
    assert (ab10["acc_low"], ab10["acc_high"]) == pytest.approx((0.3 - 1.27062, 0.3 + 1.27062), abs=1e-4)
    ab20 = folded.row(1, named=True)
    assert ab20["acc_low"] == ab20["acc_high"] == pytest.approx(0.6)             # the seeds agree: no width
    c = folded.filter(pl.col(schema.RUN) == "c").row(0, named=True)
    assert c["loss_low"] == c["loss_high"] == c["loss"] == 2.0 and c[SEEDS] == 1   # a run alone is its own group
    both = with_members(folded, curves, {"a": "ab", "b": "ab", "c": "c"})
    assert sorted(set(both[schema.RUN])) == ["a", "ab", "b", "c"] and both.height == folded.height + 4


def test_grouped_figure2_in_the_dashboard(tmp_path, monkeypatch):
    import shutil

    from conftest import REPO
    from helpers import build_fixture_runs
    from streamlit.testing.v1 import AppTest

    from probscope.runs import Run

    root = build_fixture_runs(tmp_path)
    for seed in (0, 1):                                                        # sft-s0 and sft-s1: one group
        shutil.copytree(root / "sft", root / f"sft-s{seed}")
        run = Run(root / f"sft-s{seed}")
        manifest = run.read_manifest()
        manifest.name, manifest.seed = run.name, seed
        run.write_manifest(manifest)
    shutil.rmtree(root / "sft")
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update({"group_by": "seed"})
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    chart = app.get("vega_lite_chart")[0]
    spec = json.loads(chart.proto.spec)
    assert len(spec["layer"]) == 2                                             # bars and their intervals
    rows = pl.read_ipc_stream(io.BytesIO(chart.proto.datasets[0].data.data))
    assert set(rows["series"]) == {"Base · step 0", "SFT · step 10", "DFT · step 10"}
    assert set(rows.filter(pl.col("series") == "SFT · step 10")[SEEDS]) == {2}
    app.sidebar.selectbox(key="group_by").set_value("").run()                # per seed again
    rows = pl.read_ipc_stream(io.BytesIO(app.get("vega_lite_chart")[0].proto.datasets[0].data.data))
    assert {"SFT · sft-s0 · step 10", "SFT · sft-s1 · step 10"} <= set(rows["series"])


def test_a_listing_counts_zero_where_a_seed_did_not_list_the_token():
    listing = pl.DataFrame({schema.METHOD: ["sft"] * 3, schema.RUN: ["a", "a", "b"], schema.STEP: [10] * 3,
                            schema.TOKEN: ["x", "y", "x"], schema.ROLE: [None, "word", None], "count": [4, 2, 6]})
    folded = fold(listing, {"a": "ab", "b": "ab"}, ["count"], [schema.STEP, schema.TOKEN, schema.ROLE],
                  listed=[schema.TOKEN, schema.ROLE]).sort(schema.TOKEN)
    assert folded["count"].to_list() == [5.0, 1.0] and folded[SEEDS].to_list() == [2, 2]   # y: (2 + 0) / 2
    half = stats.t.ppf(0.975, 1) * stats.sem([2.0, 0.0])
    assert (folded["count_low"][1], folded["count_high"][1]) == pytest.approx((1 - half, 1 + half))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The dashboard runs with dft trained twice: dft-s0 (as dft) and dft-s1 (other weights, other accuracy)."""
    import shutil

    from helpers import build_dashboard_runs, dynamics_rows

    from probscope.runs import EVAL_DONE, Run, write_parquet_atomic

    root = build_dashboard_runs(tmp_path_factory.mktemp("seeded"))
    for seed in (0, 1):
        shutil.copytree(root / "dft", root / f"dft-s{seed}")
        run = Run(root / f"dft-s{seed}")
        manifest = run.read_manifest()
        manifest.name, manifest.seed = run.name, seed
        manifest.config["training"]["seed"] = seed
        run.write_manifest(manifest)
    shutil.rmtree(root / "dft")
    other = Run(root / "dft-s1")
    shutil.rmtree(other.dynamics_dir)
    write_parquet_atomic(pl.DataFrame(dynamics_rows(0.9), schema=schema.dynamics_schema()),
                         other.dynamics_dir / other.dynamics_part_name(1, 4))
    for step in (5, 10):                                                     # dft-s1 scores 0.9
        done = other.eval_dir(step, "builtin-test") / EVAL_DONE
        summary = json.loads(done.read_text())
        done.write_text(json.dumps({**summary, "run": other.name, "average_at_k": 0.9}))
    return root


def test_every_chart_and_table_shows_a_group_as_its_mean_with_a_band(seeded, monkeypatch):
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    from probscope.app.dashboard import PAGES, VIEWS

    monkeypatch.setenv("PROBSCOPE_RUNS", str(seeded))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update({"group_by": "seed"})
    app.run()
    assert app.sidebar.selectbox(key="group_by").options[:2] == ["nothing (every run its own series)", "seed"]
    assert "training.seed" in app.sidebar.selectbox(key="group_by").options      # any config key that differs
    page = {title: str(VIEWS / file) for file, title in PAGES}

    def shown(title: str, view: str | None = None) -> list:
        app.switch_page(page[title]).run()
        if view is not None:
            app.radio(key=f"view:{title}").set_value(view).run()
        assert not app.exception and not app.error, [*app.exception, *app.error]
        return [pl.read_ipc_stream(io.BytesIO(one.proto.datasets[0].data.data)) for one in app.get("vega_lite_chart")]

    overview = pl.from_pandas(app.dataframe[1].value)                        # polarization: one row per group
    assert sorted(overview["run"]) == ["base", "dft", "sft"]
    assert overview.filter(pl.col("run") == "dft")["seeds"][0] == 2
    final = pl.from_pandas(app.dataframe[2].value).filter(pl.col("run") == "dft")   # last evaluated step, 10
    assert final["accuracy"][0] == pytest.approx(100 * (eval_samples_accuracy(2, 10) + 0.9) / 2)   # shown as %
    (curves,) = shown("Benchmarks")
    dft5 = curves.filter((pl.col("run") == "dft") & (pl.col("step") == 5)).row(0, named=True)
    values = np.array([eval_samples_accuracy(2, 5), 0.9])                    # dft-s0, dft-s1
    low, high = stats.t.interval(0.95, df=1, loc=values.mean(), scale=stats.sem(values))
    assert dft5["value"] == pytest.approx(values.mean()) and (dft5["value_low"], dft5["value_high"]) == pytest.approx(
        (low, high))
    (panels,) = shown("Gradient weights", "Training curves")
    weight = panels.filter((pl.col("run") == "dft") & pl.col("panel").str.starts_with("Mean gradient")
                           & ~pl.col("rule"))
    mean_weight = (0.3 * 2 + 0.9) / 2 + 0.01 * weight["step"]                      # dynamics_rows' dft weight
    assert weight["value"].to_list() == pytest.approx(mean_weight.to_list())
    assert (weight["value_low"] < weight["value"]).all() and (weight["value_high"] > weight["value"]).all()
    (weights,) = shown("Gradient weights", "Weights while training")
    assert set(weights.filter(pl.col("run") == "dft")["seeds"]) == {2}
    (mass,) = shown("Gradient weights", "Gradient mass per bin")
    assert "DFT · step 10" in set(mass["series"]) and "DFT · dft-s0 · step 10" not in set(mass["series"])
    assert len(json.loads(app.get("vega_lite_chart")[0].proto.spec)["spec"]["layer"]) == 3   # bars, ticks, whiskers
    shown("Tokens", "Left behind")
    left = pl.from_pandas(app.dataframe[0].value)
    assert set(left.filter(pl.col("run") == "dft")["seeds"]) == {2}
    (roles,) = shown("Distributions", "By role")
    assert set(roles.filter(pl.col("run") == "dft")["seeds"]) == {2}
    shown("Distributions", "Summary and statistics")
    summary = pl.from_pandas(app.dataframe[0].value)
    assert summary.filter(pl.col("run") == "dft")["seeds"].to_list() == [2, 2]
    (bars,) = shown("Tokens", "Probability range")
    dft = bars.filter(pl.col("run") == "dft").sort("rank")
    probed = pl.read_parquet(seeded / "dft-s0" / "probes" / "train" / "step-000010" / "part-*.parquet")
    top = (probed.filter(pl.col("p") < 1e-4).group_by("token").len()
           .sort("len", "token", descending=[True, False]).row(0))             # both seeds probed alike
    assert (dft["token"][0], dft["count"][0], dft[SEEDS][0]) == (top[0], top[1], 2)
    assert dft["count_low"][0] == dft["count_high"][0] == top[1]
    app.selectbox(key="bar").set_value(("dft", 10, top[0])).run()             # the group's bar: each run's examples
    assert sum("examples hold" in m.value for m in app.markdown) == 2
    app.sidebar.toggle(key="per_seed").set_value(True).run()                  # each seed beside the mean
    (curves,) = shown("Benchmarks")
    assert {"dft", "dft-s0", "dft-s1"} <= set(curves["run"]) and app.query_params["per_seed"] == "True"


def eval_samples_accuracy(run_index: int, step: int) -> float:
    from helpers import eval_samples

    return float(eval_samples(run_index, step)["correct"].mean())


def test_one_run_over_training_shows_its_groups_mean(seeded, monkeypatch):
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PROBSCOPE_RUNS", str(seeded))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update({"group_by": "seed", "view": "Over training", "over_run": "dft-s1"})
    app.switch_page(str(REPO / "probscope" / "app" / "views" / "distributions.py")).run()
    assert not app.exception and not app.error
    rows = pl.read_ipc_stream(io.BytesIO(app.get("vega_lite_chart")[0].proto.datasets[0].data.data))
    assert set(rows["series"]) == {"DFT · step 5", "DFT · step 10"} and set(rows[SEEDS]) == {2}
    single = pl.read_parquet(seeded / "dft-s0" / "probes" / "train" / "step-000005" / "part-*.parquet")
    low = rows.filter((pl.col("series") == "DFT · step 5") & (pl.col("bin_label") == schema.BIN_LABELS[0]))
    assert low["percent"][0] == pytest.approx(100 * (single["p"] < 1e-4).mean())   # the seeds probed alike
    app.radio(key="over_layout").set_value("Heatmap").run()
    assert not app.exception and not app.error and len(app.get("vega_lite_chart")) == 2
