"""`accelerate launch --num_processes 2` (CPU, gloo) trains a recipe into the usual run layout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from probscope.analysis.dynamics import read_dynamics
from probscope.runs import Run

TINY_MODEL = json.dumps({"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 256})


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tmp_path):
    from probscope.builtin.task import TaskConfig, write_builtin_data

    paths = write_builtin_data(tmp_path / "data", TaskConfig(n_train=64, n_test=8, n_old_people=4,
                                                             n_new_people=4, n_pretrain_docs=200))
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--num_processes", "2", "--multi_gpu", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
           str(REPO / "train" / "train.py"),
           "--run_name", "mp", "--runs_root", str(tmp_path), "--tokenizer", str(paths["tokenizer"]),
           "--model_config", TINY_MODEL, "--data", str(paths["train"]), "--objective", "dft",
           "--max_steps", "4", "--per_device_train_batch_size", "4", "--logging_steps", "2",
           "--checkpoints", "0,2", "--disable_tqdm", "true"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    try:
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:   # show where the ranks stopped
        pytest.fail(f"timed out; stdout: {(e.stdout or b'')[-3000:]!r}; stderr: {(e.stderr or b'')[-3000:]!r}")
    assert done.returncode == 0, done.stderr[-3000:]

    run = Run(tmp_path / "mp")
    assert run.checkpoint_steps() == [0, 2, 4]
    assert run.read_manifest().status == "finished"
    # 64 examples, 2 ranks x 4 per device: an epoch is 8 optimizer steps, so step 4 is half an epoch
    logs = [json.loads(line.replace("'", '"')) for line in done.stdout.splitlines() if line.startswith("{'loss'")]
    assert [float(log["epoch"]) for log in logs] == [0.25, 0.5]
    dynamics = read_dynamics(run.dynamics_dir)
    assert sorted(set(dynamics["step"].to_list())) == [2, 4]


@pytest.mark.bad_input
def test_a_launch_whose_trainer_sees_one_process_is_refused(monkeypatch):
    """accelerate launch on a machine without GPUs and without use_cpu: every process gets world size 1."""
    from types import SimpleNamespace

    from probscope.errors import ProbscopeError
    from probscope.training.run import check_launch

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ProbscopeError, match=r"launched as 2 processes, but the trainer sees one .*--use_cpu true"):
        check_launch(SimpleNamespace(world_size=1))
    check_launch(SimpleNamespace(world_size=2))
    monkeypatch.setenv("WORLD_SIZE", "1")
    check_launch(SimpleNamespace(world_size=1))
