"""The built-in replication: the smoke pipeline end to end (resumable), the gate, and the statistics of the
report against independent computations."""

import json
import math

import polars as pl
import pytest

from probscope import schema
from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.replication import ReplicationConfig, pipeline, report
from probscope.runs import Run


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("replicate")
    argv = ["replicate", "--smoke", "--seeds", "0,1", "--runs_root", str(root / "runs"), "--results",
            str(root / "results")]
    assert cli_main(argv) == 0
    return root, argv


@pytest.mark.slow
def test_smoke_replication_writes_tables_and_figures_for_every_seed(smoke):
    root, _ = smoke
    results = root / "results"
    for name in ("RESULTS.md", "figure2.png", "figure2.pdf", "learning_curves.png", "learning_curves.pdf",
                 "accuracy_final.csv", "claims.csv", "polarization.csv", "gate.csv"):
        assert (results / name).is_file(), name
    final = pl.read_csv(results / "accuracy_final.csv")
    # smoke leaves out the methods trained on sampled data (a 4-step model's samples are never accepted)
    assert set(final["method"]) == {"base", "sft", "dft", "dft-sentence", "dft-geometric", "grpo", "facts-sft",
                                    "facts-dft"}
    assert set(final["n"]) == {2}
    gate = pl.read_csv(results / "gate.csv")
    assert gate["run"].to_list() == ["base-s0", "base-s1"]
    for seed in (0, 1):
        sft = Run(root / "runs" / f"sft-s{seed}")
        assert sft.read_manifest().seed == seed
        assert sft.evaluated_steps("builtin-test-shift") == sft.checkpoint_steps() == [0, 2, 4]
        assert sft.probed_steps("train") == [4]
    assert "## Claims as paired differences over seeds" in (results / "RESULTS.md").read_text()
    # the learning-rate sweep: sft and dft at 1e-4 and 1e-3 beside the main runs at 3e-4, same base per seed
    sweep = pl.read_csv(results / "lr_sweep_final.csv")
    assert sorted(set(sweep["lr"])) == [1e-4, 3e-4, 1e-3] and set(sweep["method"]) == {"sft", "dft"}
    assert set(sweep["n"]) == {2}
    swept = Run(root / "runs" / "dft-lr0.001-s1")
    assert swept.read_manifest().config["trainer"]["learning_rate"] == 1e-3
    assert swept.read_manifest().base_model == str(Run(root / "runs" / "base-s1").checkpoint(4))
    assert (results / "lr_sweep.png").is_file()


@pytest.mark.slow
def test_a_rerun_resumes_and_trains_nothing(smoke, capsys):
    root, argv = smoke
    manifest = Run(root / "runs" / "dft-s1").manifest_path
    before = manifest.stat().st_mtime_ns
    cli_main(argv)
    captured = capsys.readouterr()
    out = captured.out + captured.err     # the stages report on stdout or through logging (stderr)
    assert "already finished" in out and "evaluated builtin" not in out.replace("already evaluated", "")
    assert manifest.stat().st_mtime_ns == before
    timings = json.loads((root / "runs" / pipeline.TIMINGS_FILE).read_text())
    assert {"base (pretraining + gate)", "sft", "dft", "results"} <= set(timings)


@pytest.mark.slow
def test_a_base_below_the_gate_is_pretrained_twice_as_long(tmp_path, monkeypatch):
    from probscope.builtin.settings import SMOKE_MODEL, SMOKE_TASK
    from probscope.builtin.task import TaskConfig, write_builtin_data

    write_builtin_data(tmp_path / "data" / "builtin", TaskConfig(**SMOKE_TASK, train_max_operand=4))
    accuracies = iter([0.1, 0.7])   # the first base fails the gate, its successor passes
    monkeypatch.setattr(pipeline, "evaluate_run", lambda root, run, benchmarks: {pipeline.GATE_BENCHMARK: next(accuracies)})
    monkeypatch.setattr(pipeline, "_probe", lambda *args, **kwargs: None)
    monkeypatch.setattr(pipeline, "_smoke_overrides", lambda cfg, recipe: {
        "model_config": SMOKE_MODEL, "per_device_train_batch_size": 4, "disable_tqdm": True})
    cfg = ReplicationConfig(runs_root=str(tmp_path), gate=0.5, base_steps=3)
    attempts = pipeline.gated_base(cfg, tmp_path, seed=3)
    assert [(a["run"], a["steps"], a["passed"]) for a in attempts] == [("base-s3", 3, False), ("base-s3-x2", 6, True)]
    assert Run(tmp_path / "base-s3").checkpoint_steps() == [3]
    assert Run(tmp_path / "base-s3-x2").checkpoint_steps() == [6]


# ---- statistics ------------------------------------------------------------------------------------------
def test_t_interval_matches_the_textbook_formula():
    from scipy import stats

    values = [0.5, 0.7, 0.9]
    mean, lo, hi = report.t_interval(values)
    expected = stats.t.interval(0.95, df=2, loc=0.7, scale=stats.sem(values))
    assert mean == pytest.approx(0.7) and (lo, hi) == pytest.approx(expected)
    assert report.t_interval([0.4]) == (0.4, None, None)


def _accuracies(a: list[float], b: list[float]) -> pl.DataFrame:
    rows = [{schema.METHOD: m, report.SEED: s, "benchmark": "x", report.ACCURACY: v}
            for m, values in (("a", a), ("b", b)) for s, v in enumerate(values)]
    return pl.DataFrame(rows)


@pytest.mark.parametrize(("a", "b", "verdict"), [
    ([0.9, 0.8, 0.85], [0.5, 0.45, 0.52], "reproduced"),
    ([0.5, 0.45, 0.52], [0.9, 0.8, 0.85], "contradicted"),
    ([0.9, 0.4, 0.6], [0.5, 0.7, 0.6], "inconclusive"),
    ([0.9], [0.5], "one seed: no interval"),
    ([0.9, 0.5], [0.9, 0.5], "no difference (equal on every seed)"),
])
def test_paired_difference_verdicts(a, b, verdict):
    row = report.paired_difference(_accuracies(a, b), "a", "b").row(0, named=True)
    differences = [x - y for x, y in zip(a, b)]
    assert row["mean"] == pytest.approx(sum(differences) / len(differences))
    assert row["verdict"] == verdict


def test_polarization_counts_the_extreme_bins():
    p = [1e-5, 0.05, 0.5, 0.95, 0.99, 1.0, 0.2, 0.91]
    tokens = pl.DataFrame({schema.METHOD: ["dft"] * 8, report.SEED: [0] * 8, schema.P: p})
    row = report.polarization(tokens).row(0, named=True)
    assert row["p<1e-4"] == pytest.approx(100 / 8) and row["p<0.1"] == pytest.approx(200 / 8)
    assert row["p>=0.9"] == pytest.approx(400 / 8) and row["tokens"] == 8


def test_low_roles_shares_sum_to_100_per_threshold():
    tokens = pl.DataFrame({schema.METHOD: ["dft"] * 4, schema.P: [1e-5, 5e-3, 0.05, 0.9],
                           schema.ROLE: ["connective", "number", "connective", "answer"]})
    table = report.low_roles(tokens)
    assert table["threshold"].to_list() == list(report.LOW_THRESHOLDS)
    assert table["tokens"].to_list() == [1, 1, 2, 3]
    at_01 = table.filter(pl.col("threshold") == 0.1).row(0, named=True)
    assert at_01["% connective"] == pytest.approx(200 / 3) and at_01["% answer"] == 0.0
    shares = table.select(pl.col("^% .*$")).sum_horizontal().to_list()
    assert all(math.isclose(s, 100) for s in shares)


# ---- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.bad_input
@pytest.mark.parametrize(("field", "value", "pattern"), [
    ("seeds", "0,x", "seeds: expected comma-separated integers"),
    ("seeds", "1,1", "seeds: expected distinct integers"),
    ("methods", "sft,dtf", "dft"),
    ("lr_sweep", "1e-4,fast", "lr_sweep: expected comma-separated numbers"),
    ("sweep_methods", "sft,dpo", "sweep_methods: dpo keeps its recipe's learning rate"),
])
def test_bad_settings_are_one_line_errors(field, value, pattern):
    cfg = ReplicationConfig(**{field: value})
    with pytest.raises(ProbscopeError, match=pattern) as caught:
        {"seeds": cfg.seed_list, "methods": cfg.method_list}.get(field, cfg.sweep)()
    assert len(str(caught.value).splitlines()) == 1
