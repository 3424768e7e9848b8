"""Recipes, checkpoint schedules and a tiny end-to-end training run with the run layout."""

import json
import logging
import os
from pathlib import Path

import pytest
from conftest import REPO
from helpers import sft_config

from probscope.analysis.dynamics import read_dynamics
from probscope.errors import ProbscopeError
from probscope.runs import Run, discover_runs
from probscope.training.checkpoints import checkpoint_schedule
from probscope.training.config import parse_recipe
from probscope.training.run import main as train_main
from probscope.training.run import train

TINY_MODEL = json.dumps({"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 256})
FAST = ["--max_steps", "3", "--per_device_train_batch_size", "4", "--logging_steps", "1", "--disable_tqdm", "true"]


def test_checkpoint_schedules():
    assert checkpoint_schedule("log", 600) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 600]
    assert checkpoint_schedule("every:250", 600) == [0, 250, 500, 600]
    assert checkpoint_schedule("0,25,50,700", 600) == [0, 25, 50, 600]
    assert checkpoint_schedule("final", 600) == [600]
    assert checkpoint_schedule("[0, 25, 50]", 600) == [0, 25, 50, 600]   # a YAML / Python list, as JSON text
    with pytest.raises(ProbscopeError, match="every:N"):
        checkpoint_schedule("every:x", 10)


def test_recipe_yaml_and_flags(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("run_name: a\ndata: d.jsonl\nlearning_rate: 0.5\nmodel_config: {hidden_size: 8}\n"
                      "max_length: 77\n")
    run_cfg, fmt, sft = parse_recipe([str(recipe), "--learning_rate", "0.25"])
    assert (run_cfg.run_name, run_cfg.data, sft.learning_rate) == ("a", "d.jsonl", 0.25)
    assert json.loads(run_cfg.model_config) == {"hidden_size": 8}
    assert fmt.max_length == sft.max_length == 77      # one key feeds both the adapter and TRL


@pytest.mark.parametrize("text, message", [
    ("run_name: a\ndata: d\nlearning_rat: 1\n", "learning_rat"),
    ("run_name: a\n", "data is not set"),
    ("run_name: [a\n", "invalid YAML"),
])
def test_bad_recipes_fail_before_training(tmp_path, text, message):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    with pytest.raises(ProbscopeError, match=message):
        parse_recipe([str(recipe)])


@pytest.fixture(scope="module")
def builtin_data(tmp_path_factory):
    from probscope.builtin.task import TaskConfig, write_builtin_data

    root = tmp_path_factory.mktemp("runs")
    cfg = TaskConfig(n_train=64, n_test=8, n_old_people=4, n_new_people=4, n_pretrain_docs=200)
    return root, write_builtin_data(root / "data" / "builtin", cfg)


def test_pretrain_then_finetune_writes_the_run_layout(builtin_data):
    root, paths = builtin_data
    base = train_main(["--run_name", "base", "--method", "base", "--runs_root", str(root),
                       "--tokenizer", str(paths["tokenizer"]), "--model_config", TINY_MODEL,
                       "--data", str(paths["pretrain"]), "--kind", "text", "--checkpoints", "final",
                       *FAST])
    assert base.checkpoint_steps() == [3]
    dft = train_main(["--run_name", "dft", "--objective", "dft", "--runs_root", str(root),
                      "--model", str(base.checkpoint(3)), "--data", str(paths["train"]),
                      "--checkpoints", "log", *FAST])
    assert dft.checkpoint_steps() == [0, 1, 2, 3]
    manifest = dft.read_manifest()
    assert (manifest.method, manifest.status, manifest.base_model) == ("dft", "finished", str(base.checkpoint(3)))
    assert manifest.config["run"]["objective"] == "dft"
    dynamics = read_dynamics(dft.dynamics_dir)      # logged while training, every logging step
    assert set(dynamics["step"].to_list()) == {1, 2, 3}
    assert [r.name for r in discover_runs(root)] == ["base", "dft"]
    assert not list(dft.checkpoints_dir.glob(".*tmp"))   # no half-written checkpoint left behind


def test_train_takes_a_recipe_and_typed_overrides(builtin_data, tmp_path):
    _, paths = builtin_data
    recipe = {"run_name": "base", "runs_root": str(tmp_path), "tokenizer": str(paths["tokenizer"]),
              "model_config": json.loads(TINY_MODEL), "data": str(paths["pretrain"]), "kind": "text",
              "checkpoints": "final", "per_device_train_batch_size": 4, "disable_tqdm": True}
    run = train(recipe, max_steps=2, learning_rate=0.01, checkpoints=[0, 1])   # overrides win; a list is typed
    assert run.checkpoint_steps() == [0, 1, 2]
    config = run.read_manifest().config
    assert (config["trainer"]["max_steps"], config["trainer"]["learning_rate"]) == (2, 0.01)
    assert json.loads(config["run"]["model_config"]) == json.loads(TINY_MODEL)


@pytest.mark.bad_input
@pytest.mark.parametrize("overrides, message", [
    ({"max_step": 3}, "recipe key 'max_step' does not exist for trainer sft \\(did you mean 'max_steps'\\?\\)"),
    ({"objectve": "dft"}, "did you mean 'objective'"),
    ({"trainer": "dpo", "num_generations": 2}, "'num_generations' does not exist for trainer dpo"),
])
def test_train_names_the_nearest_key_of_a_misspelt_override(overrides, message):
    with pytest.raises(ProbscopeError, match=message):
        train({"run_name": "x", "data": "missing.jsonl"}, **overrides)


@pytest.mark.parametrize("flags, message", [
    (["--objective", "dpo2"], "dpo2.*sft"),
    (["--objective", "dft-floor", "--objective_args", '{"flor": 0.2}'], "flor"),
    (["--objective", "dft-floor", "--objective_args", "{0.2}"], "objective_args"),
])
def test_bad_objectives_are_refused_before_loading_anything(flags, message):
    with pytest.raises(ProbscopeError, match=message):
        train_main(["--run_name", "x", *flags, "--data", "missing.jsonl"])


def test_not_a_model_path_is_one_line_error(tmp_path, builtin_data):
    _, paths = builtin_data
    with pytest.raises(ProbscopeError, match=str(tmp_path)):
        train_main(["--run_name", "x", "--runs_root", str(tmp_path / "runs"), "--model", str(tmp_path),
                    "--tokenizer", str(paths["tokenizer"]), "--data", str(paths["train"])])


def test_discover_runs_errors_name_the_path(tmp_path):
    with pytest.raises(ProbscopeError, match="does not exist"):
        discover_runs(tmp_path / "nope")
    with pytest.raises(ProbscopeError, match="no runs found"):
        discover_runs(tmp_path)
    assert Run(tmp_path).checkpoint_steps() == []


def test_dry_run_prints_the_plan_and_trains_nothing(builtin_data, caplog):
    root, paths = builtin_data
    caplog.set_level(logging.INFO, logger="probscope")     # the plan is reported through logging
    run = train_main(["--run_name", "plan", "--runs_root", str(root), "--tokenizer", str(paths["tokenizer"]),
                      "--model_config", TINY_MODEL, "--data", str(paths["train"]), "--max_steps", "30",
                      "--checkpoints", "every:10", "--dry_run", "true"])
    out = caplog.text
    assert "64 examples" in out and "[0, 10, 20, 30]" in out and "dry run" in out
    assert not run.root.exists()


def test_paper_recipe_dry_run_on_real_numina_rows_with_the_qwen_tokenizer(real_dir, caplog):
    """The paper's recipe parses and plans; bf16 is turned off because this machine has no GPU."""
    caplog.set_level(logging.INFO, logger="probscope")
    recipe = REPO / "train" / "numina-dft.yaml"
    run = train_main([str(recipe), "--model", str(real_dir / "tokenizers" / "qwen2.5-math-1.5b"),
                      "--data", str(real_dir / "data" / "numinamath_cot_first3.jsonl"), "--data_limit", "3",
                      "--bf16", "false", "--dry_run", "true", "--runs_root", "/nonexistent/runs"])
    out = caplog.text
    assert "3 examples (format numina)" in out and "lr 5e-05" in out and "dry run" in out
    assert not run.root.exists()


def test_bf16_on_a_machine_without_it_is_a_one_line_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine supports bf16")
    with pytest.raises(ProbscopeError, match="recipe: .*bf16"):
        parse_recipe(["--run_name", "x", "--data", "d.jsonl", "--model", "m", "--bf16", "true"])


def test_a_killed_run_resumes_to_the_same_weights(builtin_data, tmp_path, monkeypatch):
    """Killed during step 4 (trainer state saved every step, checkpoint at step 2), rerun: it resumes from its
    newest state, step 3, and ends where an unkilled run ends."""
    import torch
    from safetensors.torch import load_file

    from probscope.training.trainer import ObjectiveSFTTrainer

    root, paths = builtin_data
    base = train_main(["--run_name", "resume-base", "--runs_root", str(root), "--tokenizer", str(paths["tokenizer"]),
                       "--model_config", TINY_MODEL, "--data", str(paths["pretrain"]), "--kind", "text",
                       "--checkpoints", "final", *FAST])

    def finetune(runs_root):
        return train_main(["--run_name", "dft", "--objective", "dft", "--runs_root", str(runs_root),
                           "--model", str(base.checkpoint(3)), "--data", str(paths["train"]),
                           "--checkpoints", "2", "--resume_every", "1", "--max_steps", "5",
                           "--per_device_train_batch_size", "4", "--logging_steps", "1",
                           "--disable_tqdm", "true"])

    reference = finetune(tmp_path / "uninterrupted")

    original = ObjectiveSFTTrainer.compute_loss

    def killed_at_step_3(self, *args, **kwargs):
        if self.state.global_step == 3:
            raise KeyboardInterrupt("simulated kill")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ObjectiveSFTTrainer, "compute_loss", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        finetune(tmp_path / "killed")
    killed = Run(tmp_path / "killed" / "dft")
    assert killed.read_manifest().status == "running" and killed.checkpoint_steps() == [2]
    steps_trained = []

    def counted(self, *args, **kwargs):
        steps_trained.append(self.state.global_step + 1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ObjectiveSFTTrainer, "compute_loss", counted)
    resumed = finetune(tmp_path / "killed")
    assert steps_trained == [4, 5]             # steps 1-3 came from the saved state, not retrained
    assert resumed.read_manifest().status == "finished" and resumed.checkpoint_steps() == [2, 5]
    assert not resumed.trainer_state_dir.exists()
    weights = load_file(resumed.checkpoint(5) / "model.safetensors")
    expected = load_file(reference.checkpoint(5) / "model.safetensors")
    assert weights.keys() == expected.keys()
    for name in weights:
        torch.testing.assert_close(weights[name], expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalization", ["window", "micro_batch"])
def test_loss_normalization_window_token_mean_or_mean_of_micro_batch_means(tmp_path, normalization):
    """2 micro-batches of 2 replies of very different lengths, SGD lr 1: the update is minus the gradient of
    the window's token mean (window) or of the mean of the two micro-batches' token means (micro_batch)."""
    import torch

    from probscope.testing import random_sft_dataset, tiny_llama, word_tokenizer
    from probscope.training.trainer import ObjectiveSFTTrainer

    tokenizer = word_tokenizer(tmp_path / "tok")
    shape = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=2)
    data = random_sft_dataset(4, 40, (4, 24), (1, 3), seed=2)
    args = sft_config(tmp_path, max_steps=1, optim="sgd", learning_rate=1.0, lr_scheduler_type="constant",
                      max_grad_norm=0.0, weight_decay=0.0, per_device_train_batch_size=2, gradient_accumulation_steps=2)
    trainer = ObjectiveSFTTrainer(tiny_llama(tokenizer, 40, **shape), args=args, train_dataset=data,
                                  processing_class=tokenizer, loss_normalization=normalization)
    order = list(trainer.get_train_dataloader().sampler)           # the shuffled order the step sees
    trainer.train()

    model = tiny_llama(tokenizer, 40, **shape)
    losses, counts = [], []
    for i in order:
        ids = torch.tensor([data[i]["input_ids"]])
        labels = torch.tensor([data[i]["labels"]])
        logits = model(input_ids=ids).logits[0, :-1]
        nll = torch.nn.functional.cross_entropy(logits, labels[0, 1:], ignore_index=-100, reduction="sum")
        losses.append(nll)
        counts.append(int((labels[0, 1:] != -100).sum()))
    window = sum(losses) / sum(counts)
    micro = ((losses[0] + losses[1]) / (counts[0] + counts[1]) + (losses[2] + losses[3]) / (counts[2] + counts[3])) / 2
    references = {}
    for name, loss in (("window", window), ("micro_batch", micro)):
        grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
        references[name] = {n: -g for (n, _), g in zip(model.named_parameters(), grads, strict=False)}
    got = {n: p.detach() - q.detach() for (n, p), (_, q) in zip(trainer.model.named_parameters(),
                                                                 model.named_parameters(), strict=False)}
    other = "window" if normalization == "micro_batch" else "micro_batch"

    def error(reference):
        return max(((got[n] - reference[n]).abs().max() / reference[n].abs().max()).item() for n in reference)

    assert error(references[normalization]) < 1e-3
    assert error(references[other]) > 1e-2       # the two normalizations differ on this data


@pytest.mark.parametrize("recipe, data", [
    ("numina-sft", "numina"), ("numina-rft", "accepted"), ("numina-dft-offline", "accepted"),
    ("numina-dpo", "pairs"), ("numina-grpo", "numina"), ("numina-ppo", "numina"),
])
def test_paper_scale_recipes_dry_run_on_real_numina_rows(real_dir, tmp_path, caplog, recipe, data):
    """Every paper-scale recipe parses and plans on the real NuminaMath rows with the real Qwen tokenizer
    (RFT / DPO data: files shaped like `probscope sample`'s, built from those rows)."""
    caplog.set_level(logging.INFO, logger="probscope")
    rows = [json.loads(line) for line in (real_dir / "data" / "numinamath_cot_first3.jsonl").open()]
    numina = real_dir / "data" / "numinamath_cot_first3.jsonl"
    files = {
        "numina": numina,
        "accepted": [{"prompt": r["problem"], "completion": r["solution"], "answer": "1"} for r in rows],
        "pairs": [{"prompt": r["problem"], "chosen": r["solution"], "rejected": rows[i - 1]["solution"]}
                  for i, r in enumerate(rows)],
    }
    path = files[data]
    if not isinstance(path, Path):
        path = tmp_path / f"{data}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in files[data]))
    recipe_file = REPO / "train" / f"{recipe}.yaml"
    run = train_main([str(recipe_file), "--model", str(real_dir / "tokenizers" / "qwen2.5-math-1.5b"),
                      "--data", str(path), "--bf16", "false", "--dry_run", "true", "--runs_root", "/nonexistent/runs"])
    out = caplog.text
    assert "3 examples" in out and "dry run" in out and not run.root.exists()
    trainer = {"numina-dpo": "dpo", "numina-grpo": "grpo", "numina-ppo": "ppo"}.get(recipe, "sft")
    assert f"trainer {trainer}" in out
    if recipe == "numina-dpo":
        assert "3 pairs" in out and "epochs over them" in out
    if recipe in ("numina-grpo", "numina-ppo"):
        assert "reward math" in out and "500 steps" in out
    if recipe in ("numina-sft", "numina-rft", "numina-dft-offline"):
        run_cfg, _, cfg = parse_recipe([str(recipe_file), "--bf16", "false"])
        assert (cfg.adam_beta2, cfg.weight_decay, run_cfg.loss_normalization) == (0.95, 0.01, "micro_batch")


def test_the_authors_recipe_drops_the_last_partial_batch():
    """100,000 examples / 256 per step: the authors train 390 steps (their last partial batch dropped);
    the Trainer alone would train 391 (dataloader_drop_last drops only a partial micro-batch)."""
    from probscope.training.run import _steps_per_epoch

    for name in ("numina-sft", "numina-dft"):
        run_cfg, _, cfg = parse_recipe([str(REPO / "train" / f"{name}.yaml"),
                                        "--bf16", "false"])
        assert (cfg.adam_beta2, cfg.weight_decay, cfg.dataloader_drop_last) == (0.95, 0.01, True)
        assert run_cfg.loss_normalization == "micro_batch"
        assert cfg.max_steps == 100_000 // 256 == 390
        cfg.max_steps = -1
        os.environ["WORLD_SIZE"] = "8"      # 4 per device x 8 accumulation x 8 GPUs
        try:
            assert _steps_per_epoch(100_000, cfg) == 391
        finally:
            del os.environ["WORLD_SIZE"]
