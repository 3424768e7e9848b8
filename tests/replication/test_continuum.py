"""The capability-continuum study: bases stopped at several pretraining steps, each fine-tuned per objective."""

import pytest

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.replication.continuum import ContinuumConfig, base_run_name, continuum_table, finetune_run_name
from probscope.runs import Run


@pytest.mark.slow
def test_smoke_continuum_fine_tunes_every_stop_with_every_objective(tmp_path):
    argv = ["replicate-continuum", "--smoke", "--runs_root", str(tmp_path / "runs"), "--results",
            str(tmp_path / "results"), "--base_steps", "4", "--stops", "2,4", "--finetune_steps", "2",
            "--objectives", "sft,sft-above:threshold=0.001", "--seeds", "0"]
    assert cli_main(argv) == 0
    base = Run(tmp_path / "runs" / base_run_name(0))
    assert base.checkpoint_steps() == [2, 4] and base.evaluated_steps("builtin-test-shift") == [2, 4]
    for stop in (2, 4):
        run = Run(tmp_path / "runs" / finetune_run_name("sft-above-threshold0.001", stop, 0))
        manifest = run.read_manifest()
        assert manifest.base_model == str(base.checkpoint(stop))    # started from that stop, not the last one
        assert manifest.method == "sft-above-threshold0.001"
        assert manifest.config["run"]["objective_args"] == '{"threshold": 0.001}'
        assert run.checkpoint_steps() == [2]
    cfg = ContinuumConfig(runs_root=str(tmp_path / "runs"), seeds="0", base_steps=4, stops="2,4",
                          objectives="sft,sft-above:threshold=0.001")
    table = continuum_table(cfg)
    assert table.height == 2 * 2 * 2   # stops x objectives x benchmarks
    assert (table["accuracy"] - table["base_accuracy"] - table["gain"]).abs().max() < 1e-12
    assert (tmp_path / "results" / "CONTINUUM.md").is_file() and (tmp_path / "results" / "continuum.png").is_file()


@pytest.mark.bad_input
@pytest.mark.parametrize(("settings", "pattern"), [
    ({"stops": "100,x"}, "stops: expected comma-separated step numbers"),
    ({"stops": "100,900"}, r"stops: expected steps in 1..base_steps \(800\)"),
    ({"objectives": "sft,power:q"}, "objectives: 'power:q': expected key=number"),
    ({"objectives": "sft,power:q=abc"}, "objectives: 'power:q=abc': expected key=number"),
    ({"objectives": "sft,sft-above:treshold=0.1"}, "unknown hyper-parameter"),
    ({"objectives": "sft,dtf"}, "dft"),
])
def test_bad_settings_are_one_line_errors(settings, pattern):
    cfg = ContinuumConfig(**settings)
    with pytest.raises(ProbscopeError, match=pattern) as caught:
        cfg.stop_list() if "stops" in settings else cfg.objective_list()
    assert len(str(caught.value).splitlines()) == 1
