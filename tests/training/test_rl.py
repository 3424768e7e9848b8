"""Every method trains 3 steps on a tiny fixture and writes an ordinary run: discovered, probed and
histogrammed like an SFT run, with dynamics rows. Also: LoRA for each trainer, a reward that raises."""

import json

import pytest

from probscope import schema
from probscope.analysis.dynamics import read_dynamics
from probscope.runs import discover_runs
from probscope.training.run import main as train_main

TINY_MODEL = json.dumps({"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 256})
FAST = ["--max_steps", "3", "--per_device_train_batch_size", "4", "--logging_steps", "1", "--disable_tqdm", "true",
        "--checkpoints", "log"]
LORA = json.dumps({"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]})


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    """A tiny base (3 steps), the built-in data, and rejection-sampled RFT / DPO files written from it."""
    from probscope.builtin.task import TaskConfig, write_builtin_data

    root = tmp_path_factory.mktemp("runs")
    paths = write_builtin_data(root / "data" / "builtin", TaskConfig(n_train=32, n_test=4, n_old_people=2,
                                                                     n_new_people=2, n_pretrain_docs=100))
    base = train_main(["--run_name", "base", "--method", "base", "--runs_root", str(root), "--tokenizer",
                       str(paths["tokenizer"]), "--model_config", TINY_MODEL, "--data", str(paths["pretrain"]),
                       "--kind", "text", *FAST[:-2], "--checkpoints", "final"])
    rows = [json.loads(line) for line in paths["train"].open()]
    wrong = [r["completion"].rsplit(r["answer"], 1) for r in rows]
    samples = root / "data" / "samples"
    samples.mkdir()
    (samples / "accepted.jsonl").write_text("".join(
        json.dumps({"prompt": r["prompt"], "completion": r["completion"], "answer": r["answer"]}) + "\n" for r in rows))
    (samples / "pairs.jsonl").write_text("".join(
        json.dumps({"prompt": r["prompt"], "chosen": r["completion"], "rejected": f"{w[0]}9 9{w[1]}"}) + "\n"
        for r, w in zip(rows, wrong, strict=False)))
    return root, paths, base.checkpoint(3), samples


METHODS = {
    "rft": ["--method", "rft", "--objective", "sft", "--data", "{samples}/accepted.jsonl"],
    "dft-offline": ["--method", "dft-offline", "--objective", "dft", "--data", "{samples}/accepted.jsonl"],
    "dpo": ["--trainer", "dpo", "--data", "{samples}/pairs.jsonl", "--learning_rate", "1e-3"],
    "grpo": ["--trainer", "grpo", "--reward", "builtin-reasoning", "--data", "{train}", "--num_generations", "2",
             "--max_completion_length", "12", "--beta", "0.04"],
    "ppo": ["--trainer", "ppo", "--reward", "builtin-reasoning", "--data", "{train}", "--num_generations", "2",
            "--max_completion_length", "12"],
}


def train(fixture, name, method, *extra):
    root, paths, base, samples = fixture
    flags = [f.format(samples=samples, train=paths["train"]) for f in METHODS[method]]
    return train_main(["--run_name", name, "--runs_root", str(root), "--model", str(base), *flags, *FAST, *extra])


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_writes_a_run_that_probe_and_analysis_read_like_sft(fixture, method):
    from probscope.analysis import probability_histogram
    from probscope.analysis.tokens import load_tokens
    from probscope.data import DataFormat, encode_file
    from probscope.probe import load_tokenizer, probe_checkpoint

    root, paths, _, _ = fixture
    run = train(fixture, method, method)
    manifest = run.read_manifest()
    assert (manifest.method, manifest.status) == (method, "finished")
    assert run.checkpoint_steps() == [0, 1, 2, 3]
    assert run.name in [r.name for r in discover_runs(root)]
    tokenizer = load_tokenizer(run.checkpoint(3))
    examples = encode_file(paths["test-id"], tokenizer, DataFormat())
    probe_checkpoint(run.checkpoint(3), examples, run.probe_dir(3), run=run.name, step=3, tokenizer=tokenizer)
    tokens = load_tokens(root, runs=[run.name])
    hist = probability_histogram(tokens)
    assert hist[schema.METHOD].unique().to_list() == [method]
    assert hist["count"].sum() == sum(sum(ex.target_mask) for ex in examples)
    dynamics = read_dynamics(run.dynamics_dir)
    assert set(dynamics["step"].to_list()) == {1, 2, 3}
    assert (dynamics["n_tokens"] > 0).all()
    assert all(sum(c) == n
               for c, n in zip(dynamics["p_bin_counts"].to_list(), dynamics["n_tokens"].to_list(), strict=False))
    if method in ("grpo", "ppo"):
        assert dynamics["reward_mean"].is_not_null().all() and dynamics["kl"].is_not_null().all()
        assert dynamics["frac_reward_zero_std"].is_between(0, 1).all()
        assert set(dynamics["objective"].to_list()) == {method}
    if method == "dpo":
        assert dynamics["reward_margin"].is_not_null().all() and dynamics["reward_accuracy"].is_between(0, 1).all()
        assert set(dynamics["n_pairs"].to_list()) == {32}
        margins = dynamics.sort("step")["reward_margin"].to_list()
        assert margins[-1] > margins[0]          # lr 1e-3 on an easy pair: chosen moves away from rejected


@pytest.fixture
def varied_reward():
    """A reward that differs between samples of one prompt (the tiny base is never right): GRPO has a gradient."""
    from probscope.training.rewards import REWARDS

    REWARDS.add("length-parity-test", lambda reply, answer: float(len(reply.split()) % 2))
    yield "length-parity-test"
    REWARDS.remove("length-parity-test")


@pytest.mark.parametrize("method", ["rft", "dpo", "grpo"])
def test_lora_trains_every_trainer_and_saves_merged_checkpoints(fixture, method, varied_reward):
    from safetensors.torch import load_file

    extra = ["--reward", varied_reward, "--num_generations", "4"] if method == "grpo" else []
    run = train(fixture, f"{method}-lora", method, "--lora", LORA, "--learning_rate", "1e-2", *extra)
    assert run.checkpoint_steps() == [0, 1, 2, 3]
    first = load_file(run.checkpoint(0) / "model.safetensors")
    last = load_file(run.checkpoint(3) / "model.safetensors")
    assert first.keys() == last.keys() and not any("lora" in k for k in last)   # a plain model, merged
    changed = {k for k in first if not (first[k] == last[k]).all()}
    assert changed and all(("q_proj" in k or "v_proj" in k) for k in changed)   # only the adapted layers moved


def test_a_reward_that_raises_for_one_sample_does_not_stop_grpo(fixture, caplog):
    import logging

    from probscope.training.rewards import REWARDS

    calls = []

    @REWARDS.register("raises-once-test")
    def raises_once(reply, answer):
        calls.append(reply)
        if len(calls) == 1:
            raise RuntimeError("verifier crashed")
        return 1.0

    try:
        with caplog.at_level(logging.WARNING, logger="probscope"):
            run = train(fixture, "grpo-raises", "grpo", "--reward", "raises-once-test")
    finally:
        REWARDS.remove("raises-once-test")
    assert run.read_manifest().status == "finished" and len(calls) > 1
    assert "verifier crashed" in caplog.text
    rewards = read_dynamics(run.dynamics_dir).sort("step")["reward_mean"].to_list()
    assert rewards[0] < 1.0 and rewards[1:] == [1.0, 1.0]    # the failed sample scored 0, training went on


def test_grpo_needs_a_reward_and_a_model(fixture):
    from probscope.errors import ProbscopeError

    with pytest.raises(ProbscopeError, match="needs `reward`"):
        train(fixture, "grpo-noreward", "grpo", "--reward", "")
    with pytest.raises(ProbscopeError, match="trainer 'rloo': use one of sft, dpo, grpo, ppo"):
        train_main(["--trainer", "rloo", "--run_name", "x", "--data", "d.jsonl"])


@pytest.mark.bad_input
def test_dpo_drops_pairs_without_a_preference_and_refuses_a_file_of_only_those(tmp_path, caplog):
    import logging

    from probscope.data import DataFormat
    from probscope.errors import ProbscopeError
    from probscope.training.rl import preference_dataset

    good = {"prompt": "2 + 2 ?", "chosen": "4", "rejected": "5"}
    same = {"prompt": "1 + 1 ?", "chosen": "2 ", "rejected": "2"}
    empty = {"prompt": "3 + 3 ?", "chosen": [{"role": "assistant", "content": " "}], "rejected": "7"}
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (good, same, empty, same)))
    with caplog.at_level(logging.WARNING, logger="probscope"):
        dataset = preference_dataset(str(path), DataFormat())
    assert dataset["chosen"] == [[{"role": "assistant", "content": "4"}]]
    assert "3 of 4 pairs dropped (2 with chosen equals rejected, 1 with empty chosen reply)" in caplog.text
    path.write_text(json.dumps(same) + "\n")
    with pytest.raises(ProbscopeError, match=r"pairs.jsonl: no usable preference pair \(1 with chosen equals "
                                             r"rejected\)"):
        preference_dataset(str(path), DataFormat())
