"""ObjectiveSFTTrainer on a tiny random Llama: normalization, every objective, logged metrics, bad input.

    .venv/bin/pytest tests/training/test_trainer.py
"""

import pytest
import torch
from helpers import padded, sft_config

from probscope.errors import ProbscopeError
from probscope.training.objectives import objective_names


def make_trainer(tmp_path, tokenizer, model, data, objective, objective_args=None, **overrides):
    from probscope.training.trainer import ObjectiveSFTTrainer

    return ObjectiveSFTTrainer(model, args=sft_config(tmp_path, **overrides),
                               train_dataset=data, processing_class=tokenizer, objective=objective,
                               objective_args=objective_args)


def reference_logp(model, data):
    """Target log-probs [B, T-1] and mask from the model's full logits (no fused head, no trainer)."""
    ids, attention, labels = padded(data)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    logp = torch.log_softmax(logits.double(), -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, logp, 0.0), mask


@pytest.mark.parametrize("objective", ["dft", "dft-geometric"])
def test_accumulating_4x8_gives_the_gradient_of_1x32_and_of_a_token_mean(tmp_path, tokenizer, objective, llama,
                                                                       sft_dataset):
    # replies of very different lengths: a per-micro-batch mean would weight tokens differently
    data = sft_dataset(32, (4, 16), (1, 10), seed=1)
    sgd = dict(max_steps=1, optim="sgd", learning_rate=1.0, lr_scheduler_type="constant", max_grad_norm=0.0,
               weight_decay=0.0)

    def updated_weights(batch, accumulation):
        trainer = make_trainer(tmp_path / f"{batch}x{accumulation}", tokenizer, llama(), data, objective,
                               per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation, **sgd)
        trainer.train()
        return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}

    one_by_32, four_by_8 = updated_weights(32, 1), updated_weights(8, 4)

    # independent reference: full logits, weights written out by hand, mean over all 32 examples' tokens
    model = llama()
    logp, mask = reference_logp(model, data)
    reply_mean = logp.sum(-1, keepdim=True) / mask.sum(-1, keepdim=True)   # one reply per row
    weight = logp.exp() if objective == "dft" else reply_mean.exp().expand_as(logp)
    (-(weight.detach() * logp).sum() / mask.sum()).backward()
    # compare the updates (new - old weights), to 0.1% of the largest one plus the float32 rounding of
    # the weights they were added to: comparing the weights themselves would hide small gradient errors
    for name, p in model.named_parameters():
        expected = -1.0 * p.grad
        assert expected.abs().max() > 0, name
        tolerance = 1e-3 * expected.abs().max() + 4 * torch.finfo(torch.float32).eps * p.detach().abs().max()
        for got in (one_by_32[name] - p.detach(), four_by_8[name] - p.detach()):
            assert (got - expected).abs().max() <= tolerance, name


@pytest.mark.parametrize("objective", objective_names())
def test_every_objective_trains_and_logs_both_sft_and_dft_loss(tmp_path, tokenizer, objective, llama, sft_dataset):
    data = sft_dataset(8, (6, 12), (1, 4), seed=2)
    with torch.no_grad():
        logp, mask = reference_logp(llama(), data)
    # a thresholded objective with its threshold mid-distribution trains part of the tokens (at its default 0.1
    # a random model's targets, p ≈ 1/V, would all fall on one side, and sft-above would not train at all);
    # it sits in the widest gap between the middle third's probabilities, so that the trainer's float32 and
    # this reference put every token on the same side
    p_sorted = logp[mask].exp().sort().values
    middle = range(len(p_sorted) // 3, 2 * len(p_sorted) // 3)
    i = max(middle, key=lambda k: p_sorted[k + 1] / p_sorted[k])
    threshold = ((p_sorted[i] + p_sorted[i + 1]) / 2).item()
    args = {"threshold": threshold} if objective in ("sft-above", "sft-below", "only-top-p") else None
    trainer = make_trainer(tmp_path, tokenizer, llama(), data, objective, args, max_steps=3,
                           per_device_train_batch_size=8, learning_rate=1e-2)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3 and all(torch.isfinite(torch.tensor(h["loss"])) for h in logs)
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())

    # step 1 saw all 8 examples with the initial weights: its SFT and DFT losses, computed independently
    n = mask.sum().item()
    assert logs[0]["sft_loss"] == pytest.approx((-logp.sum() / n).item(), rel=1e-4)
    assert logs[0]["dft_loss"] == pytest.approx((-(logp.exp() * logp).sum() / n).item(), rel=1e-4)
    if objective == "sft":
        assert logs[0]["loss"] == pytest.approx(logs[0]["sft_loss"], rel=1e-5)
    if objective == "dft":
        assert logs[0]["loss"] == pytest.approx(logs[0]["dft_loss"], rel=1e-5)
    if args is not None:
        kept = (logp.exp() < threshold) if objective == "sft-below" else (logp.exp() >= threshold)
        per_token = logp.exp() if objective == "only-top-p" else logp   # OnlyTopP's loss is −p, not −log p
        assert logs[0]["loss"] == pytest.approx((-(per_token * (kept & mask)).sum() / n).item(), rel=1e-4)


@pytest.mark.parametrize("objective", ["sft", "asft"])   # TRL's fused head, and the full-logits path
def test_logged_entropy_and_accuracy_equal_the_full_distributions(tmp_path, tokenizer, objective, llama, sft_dataset):
    data = sft_dataset(8, (6, 12), (1, 4), seed=2)
    trainer = make_trainer(tmp_path, tokenizer, llama(), data, objective, max_steps=1, per_device_train_batch_size=8)
    trainer.train()
    first = next(h for h in trainer.state.log_history if "loss" in h)
    ids, attention, labels = padded(data)
    with torch.no_grad():   # step 1 trained on all 8 examples with the initial weights
        logits = llama()(input_ids=ids, attention_mask=attention).logits[:, :-1].double()
    targets = labels[:, 1:]
    mask = targets != -100
    logprobs = logits.log_softmax(-1)[mask]
    entropy = -(logprobs.exp() * logprobs).sum(-1)
    top1 = logits[mask].argmax(-1) == targets[mask]
    assert first["entropy"] == pytest.approx(entropy.mean().item(), rel=1e-4)
    assert first["mean_token_accuracy"] == pytest.approx(top1.double().mean().item(), abs=1e-6)


def test_sft_loss_decreases(tmp_path, tokenizer, llama, sft_dataset):
    data = sft_dataset(8, (6, 12), (1, 4), seed=3)
    trainer = make_trainer(tmp_path, tokenizer, llama(), data, "sft", max_steps=25, per_device_train_batch_size=8,
                           learning_rate=1e-2, logging_steps=5)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[-1] < 0.8 * losses[0], losses


def test_asft_anchors_to_a_frozen_copy_of_the_starting_model(tmp_path, tokenizer, llama, sft_dataset):
    data = sft_dataset(8, (6, 12), (1, 4), seed=4)
    trainer = make_trainer(tmp_path, tokenizer, llama(), data, "asft", {"kl_weight": 1.0}, max_steps=4,
                           per_device_train_batch_size=8, learning_rate=3e-2)
    start = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    for name, p in trainer.ref_model.named_parameters():
        assert torch.equal(p, start[name]) and not p.requires_grad, name
    logs = [h for h in trainer.state.log_history if "loss" in h]
    # step 1: policy = base, KL = 0, so the loss is exactly DFT's; later the KL term adds to it
    assert logs[0]["loss"] == pytest.approx(logs[0]["dft_loss"], rel=1e-5)
    assert all(h["loss"] > h["dft_loss"] + 1e-6 for h in logs[1:]), logs


def test_bad_settings_fail_before_training(tmp_path, tokenizer, llama, sft_dataset):
    data = sft_dataset(4, (6, 8), (1, 2))
    with pytest.raises(ProbscopeError, match=r"unknown objective 'sftt' \(did you mean 'sft'.*\); known: sft, dft"):
        make_trainer(tmp_path, tokenizer, llama(), data, "sftt")
    with pytest.raises(ProbscopeError, match=r"'power': unknown hyper-parameter\(s\) p \(valid: q=0.5\)"):
        make_trainer(tmp_path, tokenizer, llama(), data, "power", {"p": 2})
    with pytest.raises(ProbscopeError, match="loss_type='dft'"):
        make_trainer(tmp_path, tokenizer, llama(), data, "sft", loss_type="dft")
