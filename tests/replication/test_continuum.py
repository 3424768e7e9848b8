"""The capability-continuum study: bases of graded competence (each its own full run), every objective fine-tuned
from each, thresholds from each base's own probability percentiles, every objective against SFT."""

import json

import numpy as np
import polars as pl
import pytest

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.replication.continuum import (
    ContinuumConfig,
    base_run_name,
    continuum_table,
    finetune_run_name,
    versus_sft,
)
from probscope.runs import Run


@pytest.mark.slow
def test_smoke_continuum_fine_tunes_every_base_with_every_objective(tmp_path):
    from probscope.analysis import load_tokens

    objectives = "sft,sft-above:percentile=50,only-top-p:threshold=0.001"
    # --smoke: the first two default seeds, bases of 2 and 4 steps, 2-step fine-tunes
    argv = ["replicate-continuum", "--smoke", "--runs_root", str(tmp_path / "runs"), "--results",
            str(tmp_path / "results"), "--objectives", objectives]
    assert cli_main(argv) == 0
    for stop in (2, 4):
        base = Run(tmp_path / "runs" / base_run_name(stop, 0))
        assert base.checkpoint_steps() == [stop]       # its own run of `stop` steps, not a mid-schedule stop
        assert base.read_manifest().config["trainer"]["max_steps"] == stop
        run = Run(tmp_path / "runs" / finetune_run_name("sft-above-percentile50", stop, 0))
        manifest = run.read_manifest()
        assert manifest.base_model == str(base.checkpoint(stop))
        # the threshold is the median of the probabilities this base gives its probed demonstration tokens
        p = load_tokens(tmp_path / "runs", runs=[base.name], dataset="train")["p"].to_numpy()
        threshold = json.loads(manifest.config["run"]["objective_args"])["threshold"]
        assert threshold == pytest.approx(np.percentile(p, 50))
    cfg = ContinuumConfig(runs_root=str(tmp_path / "runs"), seeds="0,1", stops="2,4", objectives=objectives)
    table = continuum_table(cfg)
    assert table.height == 2 * 2 * 3 * 2   # seeds x stops x objectives x benchmarks
    assert (table["accuracy"] - table["base_accuracy"] - table["gain"]).abs().max() < 1e-12
    for name in ("CONTINUUM.md", "continuum.png", "continuum_accuracy.csv", "continuum_versus_sft.csv",
                 "continuum_thresholds.csv"):
        assert (tmp_path / "results" / name).is_file(), name
    assert set(pl.read_csv(tmp_path / "results" / "continuum_accuracy.csv")["n"]) == {2}


def test_each_objective_is_compared_with_sft_on_the_same_seeds():
    rows = [{"seed": s, "stop": 100, "objective": o, "benchmark": "b", "accuracy": a}
            for o, values in (("sft", [0.2, 0.3, 0.4]), ("dft", [0.5, 0.4, 0.9])) for s, a in enumerate(values)]
    row = versus_sft(pl.DataFrame(rows)).row(0, named=True)
    assert row["comparison"] == "dft − sft" and row["endpoint"] == "accuracy on b from the 100-step base"
    assert row["mean"] == pytest.approx(np.mean([0.3, 0.1, 0.5])) and row["n"] == 3


def test_objective_specs_with_percentiles():
    specs = {s.label: s for s in ContinuumConfig(objectives="power:q=10,sft-above:percentile=10").objective_list()}
    assert specs["power-q10"].args == {"q": 10.0} and specs["power-q10"].percentile is None
    assert specs["sft-above-percentile10"].args == {} and specs["sft-above-percentile10"].percentile == 10
    assert ContinuumConfig().seeds == [0, 1, 2]


@pytest.mark.bad_input
@pytest.mark.parametrize(("settings", "pattern"), [
    ({"stops": "100,x"}, "stops: expected comma-separated step numbers"),
    ({"stops": "0,100"}, "stops: expected positive step numbers"),
    ({"objectives": "sft,power:q"}, "objectives: 'power:q': expected key=number"),
    ({"objectives": "sft,power:q=abc"}, "objectives: 'power:q=abc': expected key=number"),
    ({"objectives": "sft,sft-above:treshold=0.1"}, "unknown hyper-parameter"),
    ({"objectives": "sft,power:percentile=10"}, "unknown hyper-parameter"),
    ({"objectives": "sft,sft-above:percentile=120"}, "percentile takes 0..100"),
    ({"objectives": "sft,dtf"}, "dft"),
])
def test_bad_settings_are_one_line_errors(settings, pattern):
    with pytest.raises(ProbscopeError, match=pattern) as caught:
        ContinuumConfig(**settings)
    assert len(str(caught.value).splitlines()) == 1
