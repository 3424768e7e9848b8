"""The built-in replication: the smoke pipeline end to end (resumable; timed by `probscope-bench smoke`), the
two-sided gate, and the settings' checks."""

import polars as pl
import pytest

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.replication import ReplicationConfig, layout, pipeline
from probscope.replication.methods import HELD_OUT, IN_DISTRIBUTION
from probscope.runs import Run


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("replicate")
    readme = root / "README.md"
    readme.write_text("intro\n<!-- results:begin -->\nold\n<!-- results:end -->\n")
    # the default seeds: --smoke keeps the first two
    argv = ["replicate", "--smoke", "--runs_root", str(root / "runs"), "--results", str(root / "results"), "--readme",
            str(readme)]
    assert cli_main(argv) == 0
    return root, argv


@pytest.mark.slow
def test_smoke_replication_writes_tables_and_figures_for_every_seed(smoke):
    root, _ = smoke
    results = root / "results"
    for name in ("RESULTS.md", "figure2.png", "figure2.pdf", "learning_curves.png", "learning_curves.pdf",
                 "accuracy_final.csv", "accuracy_by_step.csv", "claims.csv", "polarization.csv", "gate.csv",
                 "held_out_logp.csv", "entropy_headroom.csv", "lr_sweep_by_step.csv"):
        assert (results / name).is_file(), name
    final = pl.read_csv(results / "accuracy_final.csv")
    # smoke leaves out the methods trained on sampled data (a 4-step model's samples are never accepted)
    assert set(final["method"]) == {"base", "sft", "dft", "dft-sentence", "dft-geometric", "grpo", "ppo", "facts-sft",
                                    "facts-dft"}
    assert set(final["n"]) == {2}
    gate = pl.read_csv(results / "gate.csv")
    assert gate["run"].to_list() == ["base-s0", "base-s1"]
    assert {IN_DISTRIBUTION, HELD_OUT, "window"} <= set(gate.columns)
    for seed in (0, 1):
        sft = Run(root / "runs" / f"sft-s{seed}")
        assert sft.read_manifest().seed == seed
        assert sft.evaluated_steps("builtin-test-shift") == sft.checkpoint_steps() == [0, 2, 4]
        assert sft.probed_steps("train") == sft.probed_steps("test-shift") == [4]
    by_step = pl.read_csv(results / "accuracy_by_step.csv")
    assert by_step.filter(pl.col("method") == "sft")["step"].unique().sort().to_list() == [0, 2, 4]
    assert set(pl.read_csv(results / "held_out_logp.csv")["method"]) >= {"base", "sft", "dft"}
    rl = pl.read_csv(results / "rl_diagnostics.csv")
    assert set(rl["run"]) == {"grpo-s0", "grpo-s1", "ppo-s0", "ppo-s1"}
    assert "reward_mean (mean over steps)" in rl.columns
    claims = pl.read_csv(results / "claims.csv")
    assert claims["role"].to_list()[:5] == ["primary"] * 5
    offline = claims.filter(pl.col("comparison") == "dft-offline − rft").row(0, named=True)
    assert offline["verdict"].startswith("not run: --smoke skips dft-offline")
    text = (results / "RESULTS.md").read_text()
    assert "## Primary endpoints" in text and "8 problems per split" in text
    # the learning-rate sweep: sft and dft at 3e-5 and 1e-4 beside the main runs at 1e-5, same base per seed
    sweep = pl.read_csv(results / "lr_sweep_final.csv")
    assert sorted(set(sweep["lr"])) == [1e-5, 3e-5, 1e-4] and set(sweep["method"]) == {"sft", "dft"}
    swept = Run(root / "runs" / "dft-lr0.0001-s0")   # the sweeps run on the first sweep_seeds seeds (default 1)
    assert swept.read_manifest().config["trainer"]["learning_rate"] == 1e-4
    assert swept.read_manifest().base_model == str(Run(root / "runs" / "base-s0").checkpoint(4))
    # a smoke run measures nothing: its numbers never reach the README
    assert "old" in (root / "README.md").read_text()


@pytest.mark.slow
def test_a_rerun_resumes_and_trains_nothing(smoke, capfd):
    root, argv = smoke
    manifest = Run(root / "runs" / "dft-s1").manifest_path
    before = manifest.stat().st_mtime_ns
    cli_main(argv)
    captured = capfd.readouterr()     # the worker processes' stages report on stderr through logging
    out = captured.out + captured.err
    assert "already finished" in out and "evaluated builtin" not in out.replace("already evaluated", "")
    assert manifest.stat().st_mtime_ns == before
    timings = layout.read_timings(root / "runs")
    assert {"base (pretraining + gate)", "sft", "dft", "results"} <= set(timings)


@pytest.mark.slow
def test_report_only_rewrites_the_readme_block_from_the_runs(smoke, tmp_path):
    root, _ = smoke
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n<!-- results:begin -->\nhand-copied\n<!-- results:end -->\n## Next\n")
    methods = "sft,dft,dft-sentence,dft-geometric,grpo,facts-sft,facts-dft"
    assert cli_main(["replicate", "--report-only", "--seeds", "0,1", "--methods", methods, "--runs_root",
                     str(root / "runs"), "--results", str(tmp_path / "results"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n<!-- results:begin -->") and text.endswith("<!-- results:end -->\n## Next\n")
    assert "hand-copied" not in text and "| method |" in text and "**Could not be measured**" in text
    claims = pl.read_csv(tmp_path / "results" / "claims.csv")
    offline = claims.filter(pl.col("comparison") == "dft-offline − rft")["verdict"][0]
    assert "dft-offline left out by --methods" in offline


@pytest.mark.slow
@pytest.mark.parametrize(("first", "why"), [((0.9, 0.1), "held-out below the window"),
                                            ((0.3, 0.5), "in-distribution below the gate")])
def test_a_base_under_the_window_is_pretrained_longer(tmp_path, monkeypatch, first, why):
    attempts = _gate_with_accuracies(tmp_path, monkeypatch, [first, (0.7, 0.5)], base_steps=4)
    # each further base pretrains gate_growth (1.25) times as long: 4, then 5 steps
    assert [(a["run"], a["steps"], a["passed"]) for a in attempts] == [("base-s3", 4, False), ("base-s3-try2", 5, True)]
    assert (attempts[0][IN_DISTRIBUTION], attempts[0][HELD_OUT]) == first, why
    assert Run(tmp_path / "base-s3-try2").checkpoint_steps() == [5]


@pytest.mark.slow
def test_a_base_over_the_window_ends_the_tries(tmp_path, monkeypatch):
    # a longer base would only know more: the seed has no usable base (seed 1 of task version 2: 29.5% at 800
    # steps, 92% at 1,600)
    attempts = _gate_with_accuracies(tmp_path, monkeypatch, [(0.9, 0.95), (0.7, 0.5)], base_steps=4)
    assert [(a["run"], a["passed"]) for a in attempts] == [("base-s3", False)]
    assert not (tmp_path / "base-s3-try2").exists()


def _gate_with_accuracies(tmp_path, monkeypatch, accuracies, base_steps):
    """gated_base on the smoke task and model, each base's (test-id, test-shift) taken from `accuracies`."""
    from probscope.builtin.settings import SMOKE_MODEL, SMOKE_TASK
    from probscope.builtin.task import TaskConfig, write_builtin_data

    write_builtin_data(tmp_path / "data" / "builtin", TaskConfig(**SMOKE_TASK, train_max_operand=4))
    given = iter(accuracies)
    monkeypatch.setattr(pipeline, "evaluate_run", lambda root, run, benchmarks: dict(
        zip((IN_DISTRIBUTION, HELD_OUT), next(given), strict=False)))
    monkeypatch.setattr(pipeline, "_probe", lambda *args, **kwargs: None)
    monkeypatch.setattr(pipeline, "_smoke_overrides", lambda cfg, recipe: {
        "model_config": SMOKE_MODEL, "per_device_train_batch_size": 4, "disable_tqdm": True})
    return pipeline.gated_base(ReplicationConfig(runs_root=str(tmp_path), base_steps=base_steps), tmp_path, seed=3)


def test_list_settings_are_lists_and_accept_comma_text():
    cfg = ReplicationConfig(seeds="0, 2,", lr_sweep="1e-4", methods=["sft", "dft"], checkpoints="0,5")
    assert cfg.seeds == [0, 2] and cfg.lr_sweep == [1e-4] and cfg.methods == ["sft", "dft"]
    assert cfg.checkpoints == [0, 5] and cfg.sweep() == [("sft", 1e-4), ("dft", 1e-4)]
    assert len(ReplicationConfig().seeds) >= 8   # the primary comparisons' default


def test_sweeps_run_on_the_first_sweep_seeds_only(tmp_path):
    cfg = ReplicationConfig(runs_root=str(tmp_path / "runs"), results=str(tmp_path / "results"), seeds=[3, 1, 2],
                            sweep_seeds=2, lr_sweep=[1e-4], methods=["sft", "dpo", "dpo-2e-4"])
    assert cfg.sweep_of_seed(3) == cfg.sweep_of_seed(1) == [("sft", 1e-4), ("dft", 1e-4)]
    assert cfg.sweep_of_seed(2) == []
    assert cfg.methods_of_seed(1) == ["sft", "dpo", "dpo-2e-4"] and cfg.methods_of_seed(2) == ["sft", "dpo"]
    every = ReplicationConfig(runs_root=str(tmp_path / "runs"), results=str(tmp_path / "results"), seeds=[0, 1],
                              sweep_seeds=0, methods=["dpo-2e-4"])
    assert every.methods_of_seed(1) == ["dpo-2e-4"]
    rl = ReplicationConfig(runs_root=str(tmp_path / "runs"), results=str(tmp_path / "results"), seeds=[0, 1, 2],
                           rl_seeds=2, sweep_seeds=1, methods=["sft", "grpo", "ppo", "grpo-2e-4"])
    assert [rl.methods_of_seed(seed) for seed in (0, 1, 2)] == [["sft", "grpo", "ppo", "grpo-2e-4"],
                                                                 ["sft", "grpo", "ppo"], ["sft"]]


def test_the_gate_window_is_two_sided():
    cfg = ReplicationConfig(gate_id_min=0.5, gate_shift_min=0.3, gate_shift_max=0.7)
    assert cfg.passes_gate(0.5, 0.3) and cfg.passes_gate(1.0, 0.7)
    assert not cfg.passes_gate(0.49, 0.5) and not cfg.passes_gate(0.9, 0.29) and not cfg.passes_gate(0.9, 0.71)


# ---- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.bad_input
@pytest.mark.parametrize(("settings", "pattern"), [
    ({"seeds": "0,x"}, "seeds: expected comma-separated integers"),
    ({"seeds": "1,1"}, "seeds: expected distinct integers"),
    ({"methods": "sft,dtf"}, "dft"),
    ({"lr_sweep": "1e-4,fast"}, "lr_sweep: expected comma-separated numbers"),
    ({"sweep_methods": "sft,dpo"}, "sweep_methods: dpo keeps its recipe's learning rate"),
    ({"gate_shift_min": 0.8, "gate_shift_max": 0.7}, "gate_shift_min, gate_shift_max: expected 0 <= min <= max"),
    ({"gate_growth": 1.0}, "gate_growth: expected a factor > 1"),
])
def test_bad_settings_are_one_line_errors(settings, pattern):
    with pytest.raises(ProbscopeError, match=pattern) as caught:
        ReplicationConfig(**settings)
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.bad_input
@pytest.mark.parametrize("setting", ["runs_root", "results"])
def test_a_runs_or_results_folder_that_is_a_file_is_refused_before_any_work(tmp_path, setting):
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    with pytest.raises(ProbscopeError, match=f"{setting} .*a-file is a file, not a folder"):
        ReplicationConfig(**{setting: str(taken / "sub")})


@pytest.mark.bad_input
def test_a_bad_comma_list_on_the_command_line_is_a_one_line_error(tmp_path, capsys):
    assert cli_main(["replicate", "--seeds", "0,x", "--runs_root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "probscope replicate: error: seeds: expected comma-separated integers, got '0,x'"


def test_online_rl_trains_on_the_frontier_prompts_of_its_seeds_base(tmp_path):
    from probscope.replication.methods import METHODS

    base = Run(tmp_path / "base-s3")
    paths = {"train": tmp_path / "data" / "train.jsonl"}
    frontier = layout.samples_dir(tmp_path, "base-s3") / "frontier.jsonl"
    for name in ("grpo", "ppo", "grpo-2e-4"):
        method = METHODS.get(name)
        assert pipeline._data(ReplicationConfig(runs_root=str(tmp_path)), tmp_path, paths, method, base) == frontier
        # --smoke: a 4-step base has no frontier, so they train on the training split (and nothing is sampled)
        smoke = ReplicationConfig(runs_root=str(tmp_path), smoke=True)
        assert pipeline._data(smoke, tmp_path, paths, method, base) == paths["train"]
        assert name in smoke.method_list() or name == "grpo-2e-4"
    assert not pipeline._trains_on_samples(ReplicationConfig(runs_root=str(tmp_path), smoke=True), 0)
    assert pipeline._trains_on_samples(ReplicationConfig(runs_root=str(tmp_path), methods="sft,grpo"), 0)
