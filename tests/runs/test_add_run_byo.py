"""Your own checkpoints as runs: a base model at step 0 in one command, no invented manifest fields, another
folder's checkpoints refused unless asked, moved checkpoints followed as `check` advises, and `check` looking at
evaluations and at runs never probed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import add_evaluation

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.integrity import check_runs
from probscope.probe.run import probe_run
from probscope.runs import EVAL_DONE, Run
from probscope.runs.add import add_run


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A real save_pretrained folder of a 1-layer Llama, named like a base model (no step in its name)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("models") / "tiny-base"
    LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(path)
    return path


def _trainer_output(root: Path, model: Path, steps=(10, 20)) -> Path:
    for step in steps:
        (root / f"checkpoint-{step}").mkdir(parents=True)
        for f in model.iterdir():
            (root / f"checkpoint-{step}" / f.name).symlink_to(f)
    return root


def test_a_base_model_is_one_command_at_the_step_given_and_its_manifest_invents_nothing(tmp_path, model_folder,
                                                                                        capsys):
    assert cli_main(["add-run", "base", "--method", "base", "--checkpoints", str(model_folder), "--step", "0",
                     "--runs", str(tmp_path / "runs")]) == 0
    run = Run(tmp_path / "runs" / "base")
    assert run.checkpoint_steps() == [0] and run.checkpoint(0).resolve() == model_folder.resolve()
    raw = json.loads(run.manifest_path.read_text())
    assert raw["seed"] is None and raw["base_model"] is None and raw["data"] is None
    assert raw["config"] == {"added_from": [str(model_folder)]}      # not TRL's: no tokenization recorded
    assert "steps 0" in capsys.readouterr().out


@pytest.mark.bad_input
def test_step_needs_one_model_folder_and_a_whole_number(tmp_path, model_folder):
    trainer_out = _trainer_output(tmp_path / "out", model_folder)
    with pytest.raises(ProbscopeError, match="--step registers one model folder"):
        add_run(tmp_path / "runs", "x", method="sft", checkpoints=trainer_out, step=5)
    with pytest.raises(ProbscopeError, match="whole number"):
        add_run(tmp_path / "runs", "x", method="sft", checkpoints=model_folder, step=-1)
    with pytest.raises(ProbscopeError, match="pass --step N"):
        add_run(tmp_path / "runs", "x", method="sft", checkpoints=model_folder)


@pytest.mark.bad_input
def test_checkpoints_from_another_folder_are_refused_unless_extend(tmp_path, model_folder):
    first = _trainer_output(tmp_path / "first", model_folder)
    other = _trainer_output(tmp_path / "other", model_folder, steps=(30,))
    run = add_run(tmp_path / "runs", "sft", method="sft", checkpoints=first, base="org/base", data="d.jsonl")
    add_run(tmp_path / "runs", "sft", method="sft", checkpoints=first)          # the same again: nothing new
    assert (run.read_manifest().base_model, run.read_manifest().data) == ("org/base", "d.jsonl")   # kept
    with pytest.raises(ProbscopeError, match="already a run of checkpoints from .*first.*--extend"):
        add_run(tmp_path / "runs", "sft", method="sft", checkpoints=other)
    assert run.checkpoint_steps() == [10, 20]
    add_run(tmp_path / "runs", "sft", method="sft", checkpoints=other, extend=True)
    assert run.checkpoint_steps() == [10, 20, 30]
    assert run.read_manifest().config["added_from"] == [str(first), str(other)]   # both recorded


@pytest.mark.bad_input
def test_a_moved_checkpoint_is_an_error_to_probe_and_checks_advice_repairs_it(tmp_path, model_folder):
    old = _trainer_output(tmp_path / "old", model_folder)
    runs = tmp_path / "runs"
    run = add_run(runs, "sft", method="sft", checkpoints=old)
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a b"}\n')
    new = tmp_path / "new"
    old.rename(new)
    with pytest.raises(ProbscopeError, match=r"step-000010: links to .*old/checkpoint-10, which no longer exists"):
        probe_run(run.root, data)
    (finding, *_) = [f for f in check_runs(runs) if f.path.name == "step-000010"]
    assert finding.fix == f"probscope add-run sft --method sft --checkpoints NEW_LOCATION --runs {runs}"
    command = finding.fix.replace("NEW_LOCATION", str(new)).split()[1:]
    assert cli_main(command) == 0
    assert run.checkpoint_steps() == [10, 20] and run.checkpoint(10).resolve() == (new / "checkpoint-10").resolve()


@pytest.mark.bad_input
@pytest.mark.parametrize("make", ["file", "parent-file", "unwritable"])
def test_runs_that_is_a_file_or_unwritable_is_one_line(tmp_path, model_folder, make, capsys):
    runs = tmp_path / "runs"
    if make == "file":
        runs.write_text("x")
    elif make == "parent-file":
        (tmp_path / "f").write_text("x")
        runs = tmp_path / "f" / "runs"
    else:
        runs.mkdir()
        runs.chmod(0o500)
    try:
        code = cli_main(["add-run", "r", "--method", "sft", "--checkpoints", str(model_folder), "--step", "0",
                         "--runs", str(runs)])
    finally:
        if make == "unwritable":
            runs.chmod(0o700)
    err = capsys.readouterr().err.strip()
    if make == "unwritable" and os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    assert code != 0 and "--runs" in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_check_finds_damaged_evaluations(tmp_path, model_folder):
    runs = tmp_path / "runs"
    run = add_run(runs, "base", method="base", checkpoints=model_folder, step=0)
    for step, name in ((0, "whole"), (0, "no-marker"), (0, "garbage"), (0, "lost-shard"), (0, "cut-shard")):
        add_evaluation(run, 0, step, name)
    (run.eval_dir(0, "no-marker") / EVAL_DONE).unlink()
    (run.eval_dir(0, "garbage") / EVAL_DONE).write_text("{not json")
    shards = sorted(run.eval_dir(0, "lost-shard").glob("part-*.parquet"))
    summary = json.loads((run.eval_dir(0, "lost-shard") / EVAL_DONE).read_text())
    summary.update(shard_size=3, problems=3 * (len(shards) + 1))   # one shard more than there is
    (run.eval_dir(0, "lost-shard") / EVAL_DONE).write_text(json.dumps(summary))
    cut = sorted(run.eval_dir(0, "cut-shard").glob("part-*.parquet"))[0]
    cut.write_bytes(cut.read_bytes()[:-20])
    found = {(f.kind, f.path.parent.name): f for f in check_runs(runs) if "evals" in f.path.parts}
    assert set(found) == {("half-written", "no-marker"), ("corrupt", "garbage"), ("corrupt", "lost-shard"),
                          ("corrupt", "cut-shard")}
    assert "shards present" in found["corrupt", "lost-shard"].problem
    assert found["corrupt", "garbage"].fix.startswith(f"delete {run.eval_dir(0, 'garbage') / EVAL_DONE}, then "
                                                      f"probscope eval --runs {runs} --runs-filter base --steps 0")


@pytest.mark.bad_input
def test_probe_out_that_is_a_file_is_one_line(tmp_path, model_folder, capsys):
    (tmp_path / "taken").write_text("x")
    (tmp_path / "d.jsonl").write_text('{"text": "a b"}\n')
    code = cli_main(["probe", "--model", str(model_folder), "--data", str(tmp_path / "d.jsonl"),
                     "--out", str(tmp_path / "taken" / "probe")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and f"--out {tmp_path / 'taken' / 'probe'}: {tmp_path / 'taken'} is a file" in err
    assert len(err.splitlines()) == 1


@pytest.mark.bad_input
def test_check_reports_a_manifest_that_is_not_utf8(tmp_path, model_folder, capsys):
    runs = tmp_path / "runs"
    add_run(runs, "ok", method="base", checkpoints=model_folder, step=0)
    (runs / "bad").mkdir()
    (runs / "bad" / "manifest.json").write_bytes(b'{"name": "\xff"}')
    assert cli_main(["check", str(runs)]) == 1
    out = capsys.readouterr().out
    assert f"corrupt      {runs / 'bad' / 'manifest.json'}: not UTF-8 text" in out
    assert "never probed" in out        # the healthy run is still checked
