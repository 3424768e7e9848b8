"""The objective registry against independent computations (closed forms in float64, finite differences).

    .venv/bin/pytest tests/training/test_objectives.py
"""

import math

import numpy as np
import pytest
import torch

from probscope.errors import ProbscopeError
from probscope.training.objectives import (
    TokenBatch,
    get_objective,
    gradient_weight,
    objective_names,
    register_objective,
    sequence_ids,
)

V = 11


@pytest.fixture
def example():
    """Logits [2, 5, V] (float64), targets, a mask with a prompt and padding, and the same as numpy."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, V, generator=gen, dtype=torch.float64) * 2
    targets = torch.randint(0, V, (2, 5), generator=gen)
    mask = torch.tensor([[False, True, True, True, True], [False, False, True, True, False]])
    return logits, targets, mask


def logp_of(logits, targets, mask):
    """Target log-probs through autograd (0 off target), as the trainer hands them to objectives."""
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, logp, 0.0)


def probs_np(logits, targets):
    z = logits.detach().numpy()
    e = np.exp(z - z.max(-1, keepdims=True))
    soft = e / e.sum(-1, keepdims=True)
    p = np.take_along_axis(soft, targets.numpy()[..., None], -1)[..., 0]
    return soft, p


def closed_form_weights(p: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Each objective's logit-view weight, written out by hand per row (= per reply here)."""
    weights = {"sft": np.ones_like(p), "dft": p, "dft-floor": np.maximum(p, 0.1), "power": p ** 0.5,
               "sft-above": (p >= 0.1).astype(p.dtype), "sft-below": (p < 0.1).astype(p.dtype),
               "only-top-p": p * (p >= 0.1)}
    sentence, geometric = np.zeros_like(p), np.zeros_like(p)
    for row in range(p.shape[0]):
        reply = p[row][mask[row]]
        sentence[row] = np.prod(reply)
        geometric[row] = np.exp(np.mean(np.log(reply)))
    weights["dft-sentence"], weights["dft-geometric"] = sentence, geometric
    return {k: np.where(mask, v, 0.0) for k, v in weights.items()}


def test_dft_loss_is_minus_p_log_p_and_gradient_is_p_times_sft(example):
    logits, targets, mask = example
    z_dft = logits.clone().requires_grad_(True)
    per_token = get_objective("dft").per_token_loss(TokenBatch(logp_of(z_dft, targets, mask), mask))
    soft, p = probs_np(logits, targets)
    np.testing.assert_allclose(per_token.detach().numpy(), np.where(mask, -p * np.log(p), 0.0), rtol=1e-12)

    per_token.sum().backward()
    # SFT's gradient in a separate graph: torch's own cross-entropy, then p times it token by token
    z_sft = logits.clone().requires_grad_(True)
    ce = torch.nn.functional.cross_entropy(z_sft.reshape(-1, V), targets.reshape(-1), reduction="none")
    (ce * mask.reshape(-1)).sum().backward()
    expected = torch.from_numpy(p).unsqueeze(-1) * z_sft.grad
    torch.testing.assert_close(z_dft.grad, expected, rtol=1e-10, atol=1e-12)
    # ...and SFT's gradient is softmax - onehot on target positions (closed form)
    onehot = np.eye(V)[targets.numpy()]
    np.testing.assert_allclose(z_sft.grad.numpy(), (soft - onehot) * mask.numpy()[..., None], atol=1e-12)


@pytest.mark.parametrize("name", ["sft", "dft", "dft-sentence", "dft-geometric", "dft-floor", "power", "sft-above",
                                  "sft-below", "only-top-p"])
def test_gradient_weight_matches_closed_form_and_logit_gradient(example, name):
    logits, targets, mask = example
    soft, p = probs_np(logits, targets)
    expected = closed_form_weights(p, mask.numpy())[name]
    logp = logp_of(logits, targets, mask)
    weight = gradient_weight(name, logp, mask)
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-10, atol=1e-300)

    # the weight is what multiplies SFT's logit gradient: autograd of the loss w.r.t. the logits
    z = logits.clone().requires_grad_(True)
    get_objective(name).per_token_loss(TokenBatch(logp_of(z, targets, mask), mask)).sum().backward()
    onehot = np.eye(V)[targets.numpy()]
    np.testing.assert_allclose(z.grad.numpy(), expected[..., None] * (soft - onehot), atol=1e-12)


@pytest.mark.parametrize("name", ["sft", "power"])
def test_logit_gradient_matches_finite_differences(example, name):
    """Objectives without stop-gradient are plain functions of z: central differences must agree."""
    logits, targets, mask = example
    objective = get_objective(name)

    def total(z):
        return objective.per_token_loss(TokenBatch(logp_of(z, targets, mask), mask)).sum().item()

    z = logits.clone().requires_grad_(True)
    objective.per_token_loss(TokenBatch(logp_of(z, targets, mask), mask)).sum().backward()
    eps = 1e-6
    for index in [(0, 1, 3), (0, 4, int(targets[0, 4])), (1, 2, 0), (1, 3, int(targets[1, 3])), (1, 4, 2)]:
        up, down = logits.clone(), logits.clone()
        up[index] += eps
        down[index] -= eps
        assert z.grad[index].item() == pytest.approx((total(up) - total(down)) / (2 * eps), abs=1e-7)


def test_power_limits(example):
    logits, targets, mask = example
    power = get_objective("power")
    logp = logp_of(logits, targets, mask)
    sft_loss = get_objective("sft").per_token_loss(TokenBatch(logp, mask))
    near_zero = power.per_token_loss(TokenBatch(logp, mask), {"q": 1e-7})
    torch.testing.assert_close(near_zero, sft_loss, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(power.per_token_loss(TokenBatch(logp, mask), {"q": 0.0}), sft_loss)
    assert gradient_weight("power", logp, mask, args={"q": 1e-7})[mask].sub(1).abs().max() < 1e-5

    grads = {}
    for name, args in (("power", {"q": 1.0}), ("dft", None)):
        z = logits.clone().requires_grad_(True)
        get_objective(name).per_token_loss(TokenBatch(logp_of(z, targets, mask), mask), args).sum().backward()
        grads[name] = z.grad
    torch.testing.assert_close(grads["power"], grads["dft"], rtol=1e-12, atol=1e-14)


def test_sentence_weights_follow_packed_sequences():
    """Two replies packed in one row: each token weighted by its own reply's probability."""
    logp = torch.log(torch.tensor([[0.0, 0.5, 0.4, 0.0, 0.9, 0.8, 0.7]], dtype=torch.float64).clamp(min=1e-300))
    mask = torch.tensor([[False, True, True, False, True, True, True]])
    logp = torch.where(mask, logp, 0.0)
    # input positions of 8 tokens: sequence A = tokens 0-3, sequence B = tokens 4-7 (position resets to 0)
    position_ids = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3]])
    ids = sequence_ids(mask, position_ids)
    assert ids[0, 1] == ids[0, 2] != ids[0, 4] == ids[0, 5] == ids[0, 6]
    sentence = gradient_weight("dft-sentence", logp, mask, ids)
    expected = [0, 0.5 * 0.4, 0.5 * 0.4, 0, 0.9 * 0.8 * 0.7, 0.9 * 0.8 * 0.7, 0.9 * 0.8 * 0.7]
    np.testing.assert_allclose(sentence[0].numpy(), expected, rtol=1e-12)
    geometric = gradient_weight("dft-geometric", logp, mask, ids)
    a, b = math.sqrt(0.5 * 0.4), (0.9 * 0.8 * 0.7) ** (1 / 3)
    np.testing.assert_allclose(geometric[0].numpy(), [0, a, a, 0, b, b, b], rtol=1e-12)
    # without position_ids the whole row is one reply
    np.testing.assert_allclose(gradient_weight("dft-sentence", logp, mask)[0, 1].item(), 0.5 * 0.4 * 0.9 * 0.8 * 0.7)


@pytest.mark.parametrize("direction", ["policy||base", "base||policy"])
def test_asft_is_dft_plus_kl_over_the_vocabulary(example, direction):
    logits, targets, mask = example
    base_logits = logits + torch.randn(logits.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    batch = TokenBatch(logp_of(logits, targets, mask), mask, None,
                       torch.log_softmax(logits, -1), torch.log_softmax(base_logits, -1))
    per_token = get_objective("asft").per_token_loss(batch, {"kl_weight": 0.3, "kl_direction": direction})
    policy, p = probs_np(logits, targets)
    base, _ = probs_np(base_logits, targets)
    first, second = (policy, base) if direction == "policy||base" else (base, policy)
    kl = (first * np.log(first / second)).sum(-1)
    expected = np.where(mask, -p * np.log(p) + 0.3 * kl, 0.0)
    np.testing.assert_allclose(per_token.numpy(), expected, rtol=1e-10)


def test_bad_names_and_hyper_parameters_are_one_line_errors(example):
    logits, targets, mask = example
    with pytest.raises(ProbscopeError,
                       match=r"unknown objective 'dtf' \(did you mean 'dft'.*\); known: sft, dft, .*power"):
        get_objective("dtf")
    with pytest.raises(ProbscopeError, match=r"'dft-floor': unknown hyper-parameter\(s\) flor \(valid: floor=0.1\)"):
        get_objective("dft-floor").resolve_args({"flor": 0.2})
    with pytest.raises(ProbscopeError, match="vocabulary-wide KL"):
        gradient_weight("asft", logp_of(logits, targets, mask), mask)
    with pytest.raises(ProbscopeError, match="kl_direction"):
        get_objective("asft").per_token_loss(
            TokenBatch(logits[..., 0], mask, None, logits, logits), {"kl_direction": "sideways"})
    assert {"sft", "dft", "dft-sentence", "dft-geometric", "dft-floor", "asft", "power"} <= set(objective_names())


def test_register_objective_reads_hyper_parameters_from_the_signature():
    @register_objective("test-scaled-sft")
    def scaled(batch, *, scale: float = 2.0):
        return torch.where(batch.mask, -scale * batch.logp, 0.0)

    try:
        objective = get_objective("test-scaled-sft")
        assert objective.defaults == {"scale": 2.0}
        logp = torch.log(torch.tensor([[0.5, 0.25]]))
        mask = torch.tensor([[True, True]])
        torch.testing.assert_close(gradient_weight("test-scaled-sft", logp, mask, args={"scale": 3.0}),
                                   torch.tensor([[3.0, 3.0]]))
    finally:
        from probscope.training import objectives
        objectives.OBJECTIVES.remove("test-scaled-sft")


@pytest.mark.parametrize("q", [0.5, 1.0])
def test_power_weight_survives_unlikely_tokens_in_float32(q):
    """The weight p^q = exp(q log p) at log p = -20, -40, -80 in float32, against float64.

    autograd's expm1 gradient is grad * (result + 1), which cancels to 0 in float32 once exp(q log p)
    drops below float32's epsilon; the weight must come from exp(q log p) instead.
    """
    logp64 = torch.tensor([[-20.0, -40.0, -80.0]], dtype=torch.float64)
    mask = torch.ones_like(logp64, dtype=torch.bool)
    expected = torch.exp(q * logp64)
    weight = gradient_weight("power", logp64.float(), mask, args={"q": q})
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight.double(), expected, rtol=1e-5, atol=0)
    value = get_objective("power").per_token_loss(TokenBatch(logp64.float(), mask), {"q": q})
    torch.testing.assert_close(value.double(), -torch.expm1(q * logp64) / q, rtol=1e-6, atol=0)


def test_sentence_weight_underflow_counts_replies_whose_weight_is_exactly_zero():
    from probscope.training.objectives import sentence_weight_underflow

    # three replies of 2 target tokens each (row 0 packs two): sums -100 (weight exp(-100) > 0 in float32),
    # -110 (underflows to 0), -1 (fine)
    logp = torch.tensor([[-50.0, -50.0, -55.0, -55.0], [-0.5, -0.5, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    positions = torch.tensor([[0, 1, 2, 0, 1], [0, 1, 2, 3, 4]])
    ids = sequence_ids(mask, positions)
    assert sentence_weight_underflow(logp, mask, ids) == (1, 3)
    weight = gradient_weight("dft-sentence", logp, mask, ids)
    assert (weight[0, 2:] == 0).all() and (weight[0, :2] > 0).all()     # the definition: no gradient there
    assert sentence_weight_underflow(logp.double(), mask, ids) == (0, 3)   # float64 does not underflow at -110


def test_thresholded_objectives_split_sft_at_the_threshold(example):
    logits, targets, mask = example
    _, p = probs_np(logits, targets)
    on_target = p[mask.numpy()]
    threshold = float(np.median(on_target))   # tokens on both sides, so neither part is trivially 0 or SFT
    assert (on_target >= threshold).any() and (on_target < threshold).any()
    batch = TokenBatch(logp_of(logits, targets, mask), mask)
    args = {"threshold": threshold}
    above = get_objective("sft-above").per_token_loss(batch, args).numpy()
    below = get_objective("sft-below").per_token_loss(batch, args).numpy()
    nll = np.where(mask.numpy(), -np.log(p), 0.0)
    np.testing.assert_allclose(above, np.where(p >= threshold, nll, 0.0), rtol=1e-12)
    np.testing.assert_allclose(above + below, nll, rtol=1e-12)
    # OnlyTopP: the value −p (not −sg(p)·log p) on the same tokens sft-above keeps
    top = get_objective("only-top-p").per_token_loss(batch, args).numpy()
    np.testing.assert_allclose(top, np.where(mask.numpy() & (p >= threshold), -p, 0.0), rtol=1e-12)
