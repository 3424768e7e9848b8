"""DPO's implicit reward on held-out pairs: the batched, padded computation against an independent one (the
built-in chat format written out by hand, one unpadded sequence at a time), and the run-level command."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import save_small_llama

from probscope.builtin.tokenizer import BOS, build_tokenizer, render_chat
from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.evaluate.pairs import PairEvalConfig, evaluate_run_pairs, pair_reward_accuracy
from probscope.models import load_causal_lm, load_tokenizer
from probscope.runs import Manifest, Run

BETA = 0.1


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A policy and a reference (two random one-layer models on a word tokenizer with the built-in chat template)
    and 6 held-out pairs: right replies against wrong ones of other lengths."""
    root = tmp_path_factory.mktemp("pairs")
    problems = [(f"what is {a} + {b} ?", f"{a} + {b} = {a + b} . so the answer is {a + b}") for a, b in
                [(1, 2), (3, 4), (5, 2), (6, 1), (2, 2), (7, 0)]]
    tokenizer = build_tokenizer([f"{prompt} {reply}" for prompt, reply in problems], root / "tokenizer")
    policy = save_small_llama(tokenizer, root / "policy", seed=0)
    reference = save_small_llama(tokenizer, root / "reference", seed=1)
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": prompt, "chosen": reply,
                                         "rejected": "so the answer is " + "9 " * (i + 1)}) + "\n"
                             for i, (prompt, reply) in enumerate(problems)))
    return policy, reference, pairs


def independent_rewards(policy, reference, pairs) -> tuple[list[float], list[float]]:
    """beta * (log pi - log pi_ref) of each chosen and rejected reply: the chat text as the built-in template
    renders it, tokenized as text, one sequence per forward pass, a full log-softmax."""
    tokenizer = load_tokenizer(policy)

    def logp(model, prompt: str, reply: str) -> float:
        start = len(tokenizer(f"{BOS}<user> {prompt} <assistant> ", add_special_tokens=False)["input_ids"])
        ids = torch.tensor([tokenizer(render_chat(prompt, reply), add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logps = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
        return sum(logps[t - 1, ids[0, t]].item() for t in range(start, ids.shape[1]))

    models = [load_causal_lm(path).eval() for path in (policy, reference)]
    rows = [json.loads(line) for line in pairs.open()]
    rewards = {reply: [BETA * (logp(models[0], r["prompt"], r[reply]) - logp(models[1], r["prompt"], r[reply]))
                       for r in rows] for reply in ("chosen", "rejected")}
    return rewards["chosen"], rewards["rejected"]


def test_reward_accuracy_and_margin_match_an_independent_computation(models):
    policy, reference, pairs = models
    chosen, rejected = independent_rewards(policy, reference, pairs)
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    result = pair_reward_accuracy(policy, reference, pairs, BETA, batch_size=4)   # padded batches of 4 and 2
    assert result["n_pairs"] == 6 and result["beta"] == BETA
    assert result["reward_accuracy"] == pytest.approx(sum(m > 0 for m in margins) / 6)
    assert result["mean_margin"] == pytest.approx(sum(margins) / 6, rel=1e-6, abs=1e-9)
    assert result["mean_chosen_reward"] == pytest.approx(sum(chosen) / 6, rel=1e-6, abs=1e-9)
    assert result["mean_rejected_reward"] == pytest.approx(sum(rejected) / 6, rel=1e-6, abs=1e-9)
    assert 0 < result["reward_accuracy"] < 1 and abs(result["mean_margin"]) > 1e-3    # a comparison that can fail


def test_rewards_are_those_trls_dpo_trainer_reports_on_the_same_pairs(models, tmp_path):
    """TRL's own DPO metrics (rewards/chosen, rejected, margins, accuracies) of an evaluation pass, float32."""
    from trl import DPOConfig, DPOTrainer

    from probscope.data import DataFormat
    from probscope.training.rl import preference_dataset

    policy, reference, pairs = models
    dataset = preference_dataset(str(pairs), DataFormat())
    args = DPOConfig(output_dir=str(tmp_path), beta=BETA, per_device_eval_batch_size=6, report_to=[], use_cpu=True,
                     bf16=False)
    trainer = DPOTrainer(model=load_causal_lm(policy), ref_model=load_causal_lm(reference), args=args,
                         train_dataset=dataset, eval_dataset=dataset, processing_class=load_tokenizer(policy))
    trl = trainer.evaluate()
    ours = pair_reward_accuracy(policy, reference, pairs, BETA)
    assert ours["reward_accuracy"] == trl["eval_rewards/accuracies"]
    for key, theirs in (("mean_margin", "margins"), ("mean_chosen_reward", "chosen"),
                        ("mean_rejected_reward", "rejected")):
        assert ours[key] == pytest.approx(trl[f"eval_rewards/{theirs}"], rel=1e-4)


def test_a_policy_against_itself_has_no_margin(models):
    policy, _, pairs = models
    result = pair_reward_accuracy(policy, policy, pairs, BETA, limit=3)
    assert (result["n_pairs"], result["reward_accuracy"], result["mean_margin"]) == (3, 0.0, 0.0)


def dpo_run(root, policy, reference) -> Run:
    """A run as a DPO run leaves it: its manifest (reference = base_model, beta) and checkpoints 0 and 5."""
    import shutil

    run = Run(root / "dpo")
    for step in (0, 5):
        shutil.copytree(policy, run.checkpoint(step))
    run.write_manifest(Manifest(name="dpo", method="dpo", base_model=str(reference), status="finished",
                                config={"trainer": {"beta": BETA}}))
    return run


def test_pair_eval_writes_each_checkpoint_into_the_run_and_reads_it_back(models, tmp_path, capsys):
    policy, reference, pairs = models
    run = dpo_run(tmp_path, policy, reference)
    assert cli_main(["pair-eval", "--run", str(run.root), "--pairs", str(pairs), "--batch-size", "5"]) == 0
    assert capsys.readouterr().out.count("reward accuracy") == 2
    expected = pair_reward_accuracy(policy, reference, pairs, BETA)
    for step in (0, 5):
        written = json.loads(run.pair_eval_file(step, "heldout-pairs").read_text())
        assert (written["run"], written["step"], written["n_pairs"]) == ("dpo", step, 6)
        assert written["reward_accuracy"] == expected["reward_accuracy"]
        assert written["mean_margin"] == pytest.approx(expected["mean_margin"], rel=1e-6)   # batches of 5, 16
    stamp = run.pair_eval_file(5, "heldout-pairs").stat().st_mtime_ns
    again = evaluate_run_pairs(PairEvalConfig(run=str(run.root), pairs=str(pairs), steps="5"))
    assert run.pair_eval_file(5, "heldout-pairs").stat().st_mtime_ns == stamp and again[0]["step"] == 5
    evaluate_run_pairs(PairEvalConfig(run=str(run.root), pairs=str(pairs), steps="5", beta=0.5))   # other beta
    assert json.loads(run.pair_eval_file(5, "heldout-pairs").read_text())["beta"] == 0.5


@pytest.mark.bad_input
def test_bad_pairs_runs_and_steps_are_one_line_errors(models, tmp_path):
    policy, reference, pairs = models
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "chosen": "y"}) + "\n")
    with pytest.raises(ProbscopeError, match=r"bad.jsonl: row 1: missing field\(s\) rejected"):
        pair_reward_accuracy(policy, reference, bad, BETA)
    with pytest.raises(ProbscopeError, match="beta"):
        pair_reward_accuracy(policy, reference, pairs, 0.0)
    run = dpo_run(tmp_path, policy, reference)
    with pytest.raises(ProbscopeError, match=r"no checkpoint at step\(s\) 7 \(saved: 0, 5\)"):
        evaluate_run_pairs(PairEvalConfig(run=str(run.root), pairs=str(pairs), steps="7"))
    with pytest.raises(ProbscopeError, match="missing.jsonl does not exist"):
        PairEvalConfig(run=str(run.root), pairs=str(tmp_path / "missing.jsonl"))
    with pytest.raises(ProbscopeError, match="not a probscope run"):
        PairEvalConfig(run=str(tmp_path), pairs=str(pairs))
