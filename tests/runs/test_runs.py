"""Run layout: names that stay inside the runs root, versioned manifests, checkpoints added from elsewhere, and
`probscope check` finding what is missing, stale, half-written or corrupt.

    .venv/bin/pytest tests/runs/test_runs.py -q
"""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import _write_probe, probe_table

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.integrity import check_runs
from probscope.runs import MANIFEST_VERSION, Manifest, Run, discover_runs, validate_run_name
from probscope.runs.add import add_run, checkpoint_folders


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A real save_pretrained folder of a 1-layer Llama (safetensors weights)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("model") / "model"
    config = LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def external_checkpoints(root: Path, source: Path, steps=(100, 200)) -> Path:
    """A trainer's output folder: checkpoint-N folders (links to one real model) plus an unrelated folder."""
    out = root / "trainer-output"
    for step in steps:
        (out / f"checkpoint-{step}").mkdir(parents=True)
        for f in source.iterdir():
            (out / f"checkpoint-{step}" / f.name).symlink_to(f)
    (out / "logs").mkdir()
    return out


# ---- names and manifests ----------------------------------------------------------------------------------
@pytest.mark.bad_input
@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "", ".hidden", "x" * 101, "name with space"])
def test_run_names_that_leave_the_runs_root_are_refused(name, tmp_path):
    with pytest.raises(ProbscopeError, match="run name"):
        Run.in_root(tmp_path, name)


def test_plain_run_names_are_accepted():
    assert validate_run_name("dft-lr1e-4_seed.2+lora") == "dft-lr1e-4_seed.2+lora"


def write_manifest(tmp_path: Path, raw) -> Run:
    run = Run(tmp_path / "r")
    run.root.mkdir(parents=True, exist_ok=True)
    run.manifest_path.write_text(json.dumps(raw))
    return run


@pytest.mark.bad_input
@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "r", "method": None}, "field 'method' must be a non-empty string"),
    ({"name": "r", "method": "sft", "methd": "x"}, "unknown field 'methd' \\(did you mean 'method'\\?\\)"),
    ({"name": "r", "method": "sft", "schema_version": MANIFEST_VERSION + 1}, "newer than this probscope reads"),
    ({"name": "r", "method": "sft", "status": "done"}, "field 'status' must be one of running, finished"),
    (["name", "r"], "a manifest is a JSON object"),
    ({"name": "r", "method": "sft", "config": "lr=1"}, "field 'config' must be a JSON object"),
])
def test_bad_manifests_are_one_line_errors_naming_the_file(tmp_path, raw, message):
    run = write_manifest(tmp_path, raw)
    with pytest.raises(ProbscopeError, match=message) as e:
        run.read_manifest()
    assert str(e.value).startswith(str(run.manifest_path)) and "\n" not in str(e.value)


def test_manifests_without_a_version_are_read_as_version_1_and_new_ones_carry_it(tmp_path):
    run = write_manifest(tmp_path, {"name": "r", "method": "sft", "status": "finished"})
    assert run.read_manifest().schema_version == MANIFEST_VERSION
    run.write_manifest(Manifest(name="r", method="dft"))
    assert json.loads(run.manifest_path.read_text())["schema_version"] == MANIFEST_VERSION


# ---- checkpoints from elsewhere ---------------------------------------------------------------------------------
def test_add_run_links_checkpoints_with_steps_from_their_names(tmp_path, tiny_checkpoint):
    source = external_checkpoints(tmp_path, tiny_checkpoint)
    assert cli_main(["add-run", "dft-ext", "--method", "dft", "--checkpoints", str(source),
                     "--runs", str(tmp_path / "runs")]) == 0
    (run,) = discover_runs(tmp_path / "runs")
    assert run.name == "dft-ext" and run.checkpoint_steps() == [100, 200]
    assert run.checkpoint(100).is_symlink() and run.checkpoint(100).resolve() == (source / "checkpoint-100").resolve()
    manifest = run.read_manifest()
    assert manifest.method == "dft" and manifest.status == "finished"
    # adding a later checkpoint from another folder to the same run is asked for, and keeps the earlier ones
    more = external_checkpoints(tmp_path / "later", tiny_checkpoint, steps=(300,))
    add_run(tmp_path / "runs", "dft-ext", method="dft", checkpoints=f"{more}/checkpoint-*", extend=True)
    assert run.checkpoint_steps() == [100, 200, 300]


@pytest.mark.bad_input
def test_add_run_bad_inputs(tmp_path, tiny_checkpoint):
    with pytest.raises(ProbscopeError, match="no folder matches"):
        checkpoint_folders(str(tmp_path / "nothing-*"))
    with pytest.raises(ProbscopeError, match="does not exist"):
        checkpoint_folders(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProbscopeError, match="no checkpoint folder found"):
        checkpoint_folders(tmp_path / "empty")
    (tmp_path / "final").symlink_to(tiny_checkpoint)
    with pytest.raises(ProbscopeError, match="cannot tell its step"):
        checkpoint_folders(tmp_path / "final")
    source = external_checkpoints(tmp_path, tiny_checkpoint)
    add_run(tmp_path / "runs", "x", method="dft", checkpoints=source)
    with pytest.raises(ProbscopeError, match="already a run with method 'dft', not 'sft'"):
        add_run(tmp_path / "runs", "x", method="sft", checkpoints=source)


# ---- probscope check -----------------------------------------------------------------------------------------
def test_check_finds_each_kind_of_problem_and_nothing_on_a_healthy_run(tmp_path, tiny_checkpoint, capsys):
    source = external_checkpoints(tmp_path, tiny_checkpoint)
    runs = tmp_path / "runs"
    run = add_run(runs, "ok", method="sft", checkpoints=source)
    (unprobed,) = check_runs(runs)                              # registered, never probed
    assert (unprobed.kind, unprobed.fix) == ("missing", f"probscope probe --run {run.root} --data FILE")
    for step in (100, 200):
        _write_probe(run, step, probe_table("sft", step, np.random.default_rng(step)), finished=True, dataset="other")
    assert check_runs(runs) == []
    assert cli_main(["check", str(runs)]) == 0 and "nothing to repair" in capsys.readouterr().out

    broken = Run(runs / "broken")
    broken.write_manifest(Manifest(name="broken", method="dft", status="running"))
    (broken.checkpoints_dir / ".step-000010.tmp").mkdir(parents=True)
    truncated = broken.checkpoint(5)
    truncated.mkdir()
    (truncated / "config.json").write_text("{}")
    weights = (tiny_checkpoint / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    (runs / "orphan" / "checkpoints").mkdir(parents=True)
    (runs / "bad-manifest").mkdir()
    (runs / "bad-manifest" / "manifest.json").write_text("{not json")
    (run.root / "probes" / "train" / "step-000100").mkdir(parents=True)        # killed probe: no _DONE

    found = {(f.kind, f.path.name) for f in check_runs(runs)}
    assert ("unfinished", "broken") in found
    assert ("half-written", ".step-000010.tmp") in found
    assert ("corrupt", "step-000005") in found                    # truncated safetensors
    assert ("missing", "manifest.json") in found                  # orphan checkpoints
    assert ("corrupt", "manifest.json") in found                  # bad JSON
    assert ("half-written", "step-000100") in found               # probe without marker
    assert ("missing", "train") in found                          # step 200 never probed
    assert cli_main(["check", str(runs)]) == 1
