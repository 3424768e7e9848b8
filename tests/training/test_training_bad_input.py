"""Training's bad inputs: each a one-line error before anything trains; a rerun with other settings is refused
(unless --restart), and a real SIGKILL of `probscope train` resumes to the uninterrupted run's weights.

    .venv/bin/pytest tests/training/test_training_bad_input.py -q
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import fields

import pytest

from probscope.errors import ProbscopeError
from probscope.runs import Run
from probscope.training.checkpoints import checkpoint_schedule
from probscope.training.config import parse_recipe
from probscope.training.run import main as train_main

TINY_MODEL = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "num_key_value_heads": 2, "max_position_embeddings": 256}
FAST = ["--per_device_train_batch_size", "4", "--logging_steps", "1", "--disable_tqdm", "true"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from probscope.builtin.task import TaskConfig, write_builtin_data

    root = tmp_path_factory.mktemp("data")
    return write_builtin_data(root, TaskConfig(n_train=64, n_test=8, n_old_people=4, n_new_people=4,
                                               n_pretrain_docs=200))


def pretrain_args(data, runs_root, *extra: str) -> list[str]:
    return ["--run_name", "base", "--runs_root", str(runs_root), "--tokenizer", str(data["tokenizer"]),
            "--model_config", json.dumps(TINY_MODEL), "--data", str(data["pretrain"]), "--kind", "text",
            "--checkpoints", "final", "--max_steps", "4", *FAST, *extra]


@pytest.mark.bad_input
@pytest.mark.parametrize(("flags", "message"), [
    (["--run_name", "../../x"], "run name '../../x'"),
    (["--data_limit", "-1"], "data_limit: -1 is not allowed"),
    (["--data_limit", "0"], "data_limit: 0 is not allowed"),
    (["--max_steps", "0"], "max_steps: 0 is not allowed"),
    (["--max_steps", "-5"], "max_steps: -5 is not allowed"),
    (["--learning_rate", "-0.001"], "learning_rate: -0.001 is not allowed"),
    (["--per_device_train_batch_size", "0"], "per_device_train_batch_size: 0 is not allowed"),
    (["--gradient_accumulation_steps", "0"], "gradient_accumulation_steps: 0 is not allowed"),
    (["--resume_every", "-3"], "resume_every: -3 is not allowed"),
    (["--trainer", "rloo"], "trainer 'rloo': use one of sft, dpo, grpo, ppo"),
    (["--threads", "0"], "threads: 0 is not allowed"),
    (["--trainer", "ppo", "--reward", "builtin-reasoning", "--beta", "0.1"],
     "beta: 0.1 is not allowed for trainer ppo"),
])
def test_bad_numbers_and_names_fail_while_parsing(flags, message):
    args = ["--run_name", "x", "--data", "d.jsonl", "--model", "m", *flags]
    with pytest.raises(ProbscopeError, match=message):
        parse_recipe(args)


@pytest.mark.bad_input
def test_bad_schedules_and_objective_settings():
    with pytest.raises(ProbscopeError, match="N must be a positive number"):
        checkpoint_schedule("every:0", 10)
    with pytest.raises(ProbscopeError, match="cannot be negative"):
        checkpoint_schedule("-5,10", 10)
    with pytest.raises(ProbscopeError, match=r"floor=-3 must be a number in \[0, 1\]"):
        train_main(["--run_name", "x", "--data", "d.jsonl", "--objective", "dft-floor",
                    "--objective_args", '{"floor": -3}'])


@pytest.mark.bad_input
@pytest.mark.parametrize(("settings", "message"), [
    ({"objective": "sft-abov"}, "unknown objective 'sft-abov' \\(did you mean 'sft-above'"),
    ({"data_limit": 0}, "data_limit: 0 is not allowed"),
    ({"loss_normalization": "token"}, "loss_normalization 'token': use one of window, micro_batch"),
    ({"trainer": "grpo", "reward": "builtin-reasoning", "model": None}, "trainer grpo starts from a model"),
    ({"trainer": "grpo", "model": "m"}, "trainer grpo needs `reward`"),
    ({"trainer": "grpo", "model": "m", "reward": "maths"}, "reward: unknown reward 'maths' \\(did you mean 'math'"),
    ({"model": None}, "set either `model`"),
    ({"model": None, "model_config": "{}"}, "model_config: \\{\\} sets no size"),
    ({"model": None, "model_config": '{"hidden_sise": 8}'}, "did you mean 'hidden_size'"),
])
def test_a_run_config_built_in_python_checks_itself(settings, message):
    from probscope.training.config import RunConfig

    with pytest.raises(ProbscopeError, match=message):
        RunConfig(**{"run_name": "x", "data": "d.jsonl", "model": "m", **settings})


def test_help_lists_every_registered_objective_and_reward():
    from probscope.training.config import RunConfig
    from probscope.training.objectives import OBJECTIVES
    from probscope.training.rewards import REWARDS

    helps = {f.name: f.metadata["help"] for f in fields(RunConfig)}
    assert all(name in helps["objective"] for name in OBJECTIVES) and "sft-above" in helps["objective"]
    assert all(name in helps["reward"] for name in REWARDS)


@pytest.mark.bad_input
def test_a_dry_run_makes_every_check_of_a_real_run(data, tmp_path):
    with pytest.raises(ProbscopeError, match="sets no size"):
        train_main([*pretrain_args(data, tmp_path), "--model_config", "{}", "--dry_run", "true"])
    run = train_main(pretrain_args(data, tmp_path, "--max_steps", "2"))
    with pytest.raises(ProbscopeError, match="already holds a run with other settings"):
        train_main(pretrain_args(data, tmp_path, "--max_steps", "2", "--learning_rate", "0.1", "--dry_run", "true"))
    assert run.read_manifest().status == "finished"


@pytest.mark.bad_input
def test_a_refused_run_leaves_nothing_that_refuses_the_corrected_one(data, tmp_path, monkeypatch):
    from probscope.training import run as training

    def refuse(*args, **kwargs):
        raise ProbscopeError("the trainer refuses these settings")

    with monkeypatch.context() as patch:
        patch.setattr(training, "_build_trainer", refuse)
        with pytest.raises(ProbscopeError, match="refuses"):
            train_main(pretrain_args(data, tmp_path, "--learning_rate", "0.1"))
    assert not (tmp_path / "base" / "manifest.json").exists()
    run = train_main(pretrain_args(data, tmp_path))     # other settings, no --restart needed
    assert run.read_manifest().status == "finished"


@pytest.mark.bad_input
def test_model_config_typo_names_the_nearest_setting_before_building(data, tmp_path, caplog):
    config = json.dumps({**TINY_MODEL, "hidden_sise": 8})
    with pytest.raises(ProbscopeError, match="unknown LlamaConfig setting 'hidden_sise' \\(did you mean 'hidden_size'"):
        train_main([*pretrain_args(data, tmp_path), "--model_config", config])
    with caplog.at_level(logging.INFO, logger="probscope"):
        train_main(pretrain_args(data, tmp_path / "ok"))
    assert "model from scratch: " in caplog.text      # the size is said before it is allocated


@pytest.mark.bad_input
def test_rerun_with_other_settings_is_refused_unless_restart(data, tmp_path):
    run = train_main(pretrain_args(data, tmp_path, "--max_steps", "2"))
    manifest = json.loads(run.manifest_path.read_text())
    manifest["status"] = "running"                 # as a killed run leaves it
    run.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ProbscopeError, match=r"already holds a run with other settings \(.*learning_rate"):
        train_main(pretrain_args(data, tmp_path, "--max_steps", "2", "--learning_rate", "0.1"))
    with pytest.raises(ProbscopeError, match="method"):
        train_main(pretrain_args(data, tmp_path, "--max_steps", "2", "--objective", "dft"))
    restarted = train_main(pretrain_args(data, tmp_path, "--max_steps", "2", "--learning_rate", "0.1",
                                         "--restart", "true"))
    assert restarted.read_manifest().status == "finished"
    assert restarted.read_manifest().config["trainer"]["learning_rate"] == 0.1


@pytest.mark.fault
def test_sigkill_during_training_then_rerun_ends_with_the_uninterrupted_weights(data, tmp_path):
    """`probscope train` in a subprocess, SIGKILLed once a trainer state exists; the rerun resumes from it."""
    import torch
    from safetensors.torch import load_file

    args = pretrain_args(data, tmp_path / "{root}", "--max_steps", "40", "--resume_every", "5",
                         "--per_device_train_batch_size", "2", "--seed", "3")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}

    def command(root: str) -> list[str]:
        return [sys.executable, "-m", "probscope.cli", "train", *[a.replace("{root}", root) for a in args]]

    subprocess.run(command("whole"), env=env, check=True, capture_output=True, timeout=300)
    victim = subprocess.Popen(command("killed"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_dir = Run(tmp_path / "killed" / "base").trainer_state_dir
    deadline = time.time() + 240
    while not list(state_dir.glob("checkpoint-*/trainer_state.json")):
        assert victim.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline, "no trainer state appeared"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = Run(tmp_path / "killed" / "base")
    assert killed.read_manifest().status == "running"
    rerun = subprocess.run(command("killed"), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resuming the killed run" in rerun.stderr
    assert killed.read_manifest().status == "finished" and not killed.trainer_state_dir.exists()
    weights = load_file(killed.checkpoint(40) / "model.safetensors")
    expected = load_file(Run(tmp_path / "whole" / "base").checkpoint(40) / "model.safetensors")
    for name in expected:
        torch.testing.assert_close(weights[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.bad_input
def test_a_truncated_trainer_state_says_so_and_offers_restart(data, tmp_path):
    args = pretrain_args(data, tmp_path, "--max_steps", "6", "--resume_every", "2")
    run = train_main(args)
    manifest = json.loads(run.manifest_path.read_text())
    manifest["status"] = "running"                                   # as if killed after its step-4 state
    run.manifest_path.write_text(json.dumps(manifest))
    state = run.trainer_state_dir / "checkpoint-4"
    state.mkdir(parents=True)
    (state / "trainer_state.json").write_text('{"global_step": 4')    # cut off mid-write
    with pytest.raises(ProbscopeError,
                       match=r"checkpoint-4: the saved trainer state cannot be loaded .*--restart true"):
        train_main(args)
    assert train_main([*args, "--restart", "true"]).read_manifest().status == "finished"


def test_the_chat_template_a_run_trains_with_is_saved_and_probing_uses_it(data, tmp_path, caplog):
    """A tokenizer without a template + chat_template given to training: every checkpoint carries it, so encoding
    for the probe needs no flag; a different template passed explicitly is used, with a warning."""
    import logging

    from probscope.builtin.tokenizer import CHAT_TEMPLATE
    from probscope.data import DataFormat, encode_file
    from probscope.models import load_tokenizer

    bare = load_tokenizer(data["tokenizer"])
    bare.chat_template = None
    bare_dir = tmp_path / "bare-tokenizer"
    bare.save_pretrained(bare_dir)
    template_file = tmp_path / "template.jinja"
    template_file.write_text(CHAT_TEMPLATE)
    base = train_main(pretrain_args(data, tmp_path, "--tokenizer", str(bare_dir), "--max_steps", "2"))
    run = train_main(["--run_name", "sft", "--runs_root", str(tmp_path), "--model", str(base.checkpoint(2)),
                      "--tokenizer", str(bare_dir), "--data", str(data["train"]), "--chat_template",
                      str(template_file), "--max_steps", "2", "--checkpoints", "0,2", *FAST])
    for step in (0, 2):
        assert load_tokenizer(run.checkpoint(step)).chat_template == CHAT_TEMPLATE
    saved = load_tokenizer(run.checkpoint(2))
    examples = encode_file(data["train"], saved, DataFormat(), limit=4)           # no chat_template needed
    assert examples and all(any(ex.target_mask) for ex in examples)
    with caplog.at_level(logging.WARNING, logger="probscope"):
        encode_file(data["train"], saved, DataFormat(chat_template=CHAT_TEMPLATE + "{# another #}"), limit=1)
    assert "differs from the tokenizer's own" in caplog.text
