"""The loss registry: each training objective turns per-token log-probabilities into a per-token loss.

    from probscope.training.objectives import TokenBatch, get_objective, gradient_weight
    dft = get_objective("dft")
    per_token = dft.per_token_loss(TokenBatch(logp=logp, mask=mask))   # [B, T], 0 off target
    w = gradient_weight("dft", logp, mask)                              # [B, T]: p on target tokens

An objective is one function registered with ``@register_objective("name")``: it takes a TokenBatch
(and keyword hyper-parameters, whose defaults are the function's keyword defaults) and returns the loss
of every target position, 0 elsewhere. It never reduces: normalization lives in ONE place,
``probscope.training.trainer.ObjectiveSFTTrainer.compute_loss``, which divides the micro-batch's summed per-token
loss by ``num_items_in_batch``, the number of target tokens in the whole gradient-accumulation window
(all ranks). The accumulated gradient is therefore the gradient of a true token mean over the window,
whatever the micro-batch split (1 x 32 and 4 x 8 give the same gradient).

Gradient weights: two views, both computed from the registered loss itself
---------------------------------------------------------------------------
Let p = softmax(z)_y be the probability of the target token y at one position, with logits z. A loss
that depends on z only through log p has ∂ℓ/∂z = (∂ℓ/∂log p)·(e_y − softmax(z)). SFT (ℓ = −log p) has
∂ℓ/∂log p = −1, so every objective's gradient at a token is w times SFT's gradient there, with

    logit view   w = −∂L/∂log p_t          (L = sum of the batch's per-token losses; sg(·) is a constant)
                 SFT 1, DFT p, power p^q, dft-floor max(p, floor), dft-sentence π(y|x) (the whole reply's
                 probability), dft-geometric exp(mean log p over the reply), sft-above 1[p ≥ threshold],
                 sft-below 1[p < threshold], only-top-p p·1[p ≥ threshold].

The DFT paper's RL view (its eqs. 5-8) reads SFT's gradient as an on-policy policy gradient with reward
1[y = y*] and importance weight 1/π_θ(y*|x): ∇L_SFT = −E_{y~π_θ}[1[y = y*]/π_θ(y|x) · ∇log π_θ(y|x)].
Relative to that policy gradient an objective's importance weight is

    RL view      w / p                       SFT 1/p (the unbounded weight the paper blames),
                                             DFT 1 (DFT "rectifies the reward"), power p^(q−1).

The paper states the RL view per sequence with π(y*|x); DFT applies it per token, as do these weights.
`gradient_weight` returns the logit view (divide by p for the RL view). ``asft`` adds a KL term whose
gradient spreads over the whole vocabulary: its weight on the target token is DFT's, and
`gradient_weight` refuses it rather than hide the KL term.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from probscope.errors import ProbscopeError
from probscope.registry import Registry


@dataclass(frozen=True)
class TokenBatch:
    """Per-token inputs of an objective, all aligned on the (already shifted) target positions [B, T]."""

    logp: Tensor                          # log p of the target token; 0 where mask is False
    mask: Tensor                          # bool: True on target tokens
    sequence_ids: Tensor | None = None    # int: reply each position belongs to (None: one reply per row)
    vocab_logp: Tensor | None = None      # [B, T, V] policy log-probabilities over the vocabulary (asft)
    ref_vocab_logp: Tensor | None = None  # [B, T, V] frozen base model's log-probabilities (asft)


@dataclass(frozen=True)
class Objective:
    name: str
    loss: Callable[..., Tensor]           # (TokenBatch, **hyper-parameters) -> per-token loss [B, T]
    defaults: dict[str, Any]              # hyper-parameter -> default value
    needs_vocab_logp: bool                # needs full-vocabulary log-probs of the policy and the frozen base
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)   # hyper-parameter -> [low, high]

    def resolve_args(self, args: dict[str, Any] | None) -> dict[str, Any]:
        """The defaults updated with `args`; a one-line error for a hyper-parameter it does not have."""
        args = dict(args or {})
        unknown = sorted(set(args) - set(self.defaults))
        if unknown:
            valid = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items()) or "none"
            raise ProbscopeError(
                f"objective '{self.name}': unknown hyper-parameter(s) {', '.join(unknown)} (valid: {valid})"
            )
        resolved = {**self.defaults, **args}
        for key, (low, high) in self.ranges.items():
            value = resolved[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ProbscopeError(f"objective '{self.name}': {key}={value!r} must be a number in "
                                     f"[{low:g}, {high:g}]")
        return resolved

    def per_token_loss(self, batch: TokenBatch, args: dict[str, Any] | None = None) -> Tensor:
        return self.loss(batch, **self.resolve_args(args))


OBJECTIVES: Registry[Objective] = Registry("objective")


def register_objective(name: str, *, needs_vocab_logp: bool = False,
                       ranges: dict[str, tuple[float, float]] | None = None):
    """Register `fn(batch: TokenBatch, *, hyper=default, ...) -> per-token loss` under `name`; `ranges` bounds
    numeric hyper-parameters (inclusive), checked before anything trains."""

    def register(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        defaults = {
            p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        OBJECTIVES.add(name, Objective(name, fn, defaults, needs_vocab_logp, dict(ranges or {})))
        return fn

    return register


def objective_names() -> list[str]:
    return list(OBJECTIVES)


def get_objective(name: str) -> Objective:
    return OBJECTIVES.get(name)


def gradient_weight(name: str, logp: Tensor, mask: Tensor, sequence_ids: Tensor | None = None,
                    args: dict[str, Any] | None = None) -> Tensor:
    """Logit-view weight w = −∂L/∂log p_t of objective `name` at every position [B, T] (0 off target).

    Differentiates the registered loss itself, so the weight can never disagree with what is trained.
    """
    objective = get_objective(name)
    if objective.needs_vocab_logp:
        raise ProbscopeError(
            f"objective '{name}': its gradient has a vocabulary-wide KL term that is not a weight on the target "
            "token (its target-token weight is dft's)"
        )
    leaf = logp.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = objective.per_token_loss(TokenBatch(leaf, mask, sequence_ids), args).sum()
        (grad,) = torch.autograd.grad(loss, leaf)
    return -grad


def sequence_ids(mask: Tensor, position_ids: Tensor | None = None) -> Tensor:
    """Id of the reply each shifted target position belongs to, unique across the batch [B, T].

    `mask` is the shifted target mask [B, T]; `position_ids` the model inputs' [B, T + 1] positions.
    Without them each row is one sequence; with packed rows a sequence starts where the position is 0,
    and a target position belongs to the sequence of the token it predicts (position_ids[:, 1:]).
    """
    rows, width = mask.shape
    row_ids = torch.arange(rows, device=mask.device).unsqueeze(1) * (width + 1)
    if position_ids is None:
        return row_ids.expand(rows, width)
    return row_ids + (position_ids[:, 1:] == 0).cumsum(dim=1)


# ---- per-sequence sums: the context sentence-level weights need -----------------------------------------
def _sequence_sum(values: Tensor, batch: TokenBatch) -> tuple[Tensor, Tensor]:
    """(sum of `values`, number of target tokens) over each position's sequence, broadcast to [B, T]."""
    ids = batch.sequence_ids if batch.sequence_ids is not None else sequence_ids(batch.mask)
    ids = ids.reshape(-1)
    mask = batch.mask.reshape(-1)
    size = int(ids.max()) + 1
    sums = torch.zeros(size, dtype=values.dtype, device=values.device).index_add(
        0, ids[mask], values.reshape(-1)[mask]
    )
    counts = torch.zeros(size, dtype=values.dtype, device=values.device).index_add(
        0, ids[mask], torch.ones_like(values.reshape(-1)[mask])
    )
    return sums[ids].view_as(values), counts[ids].view_as(values)


def _weighted_nll(batch: TokenBatch, weight: Tensor) -> Tensor:
    """−sg(weight)·log p on target tokens, 0 elsewhere."""
    return torch.where(batch.mask, -weight.detach() * batch.logp, 0.0)


# ---- the objectives -------------------------------------------------------------------------------------
@register_objective("sft")
def sft(batch: TokenBatch) -> Tensor:
    """−log p: maximum likelihood."""
    return torch.where(batch.mask, -batch.logp, 0.0)


@register_objective("dft")
def dft(batch: TokenBatch) -> Tensor:
    """−sg(p)·log p: the DFT paper's eq. 9 (TRL's loss_type="dft")."""
    return _weighted_nll(batch, batch.logp.exp())


@register_objective("dft-sentence")
def dft_sentence(batch: TokenBatch) -> Tensor:
    """−sg(π(y|x))·log p: every token of a reply weighted by the whole reply's probability (paper's Table 8)."""
    total, _ = _sequence_sum(batch.logp, batch)
    return _weighted_nll(batch, total.exp())


@register_objective("dft-geometric")
def dft_geometric(batch: TokenBatch) -> Tensor:
    """−sg(exp(mean log p over the reply))·log p: the geometric mean of the reply's probabilities (Table 8)."""
    total, count = _sequence_sum(batch.logp, batch)
    return _weighted_nll(batch, (total / count.clamp(min=1)).exp())


@register_objective("dft-floor", ranges={"floor": (0.0, 1.0)})
def dft_floor(batch: TokenBatch, *, floor: float = 0.1) -> Tensor:
    """−sg(max(p, floor))·log p: DFT whose weight never drops below `floor` (floor=0: DFT, floor=1: SFT)."""
    return _weighted_nll(batch, batch.logp.exp().clamp(min=floor))


@register_objective("power", ranges={"q": (0.0, 1e6)})
def power(batch: TokenBatch, *, q: float = 0.5) -> Tensor:
    """−(p^q − 1)/q: q → 0 is SFT (−log p), q = 1 is 1 − p, whose gradient is DFT's. Weight p^q."""
    if q == 0:
        return sft(batch)
    # The value: expm1 keeps (p^q − 1)/q accurate for small q, where it is close to log p. The gradient:
    # autograd's expm1 backward is grad·(result + 1), which cancels to 0 in float32 once p^q drops below
    # float32's epsilon (log p ≲ −35 at q = 0.5); the zero-valued term exp(q·log p) − sg(exp(q·log p)) carries
    # the exact weight p^q instead.
    scaled = q * batch.logp
    pow_q = scaled.exp()
    loss = -(torch.expm1(scaled).detach() + (pow_q - pow_q.detach())) / q
    return torch.where(batch.mask, loss, 0.0)


# Thresholded maximum likelihood (Li et al. 2025, "Beyond Log Likelihood"): −log p on a subset of the tokens.
# Learning only what the model already finds likely leans on its prior; learning only the unlikely tokens
# leans away from it. Their weight is an indicator, so the gradient is SFT's or nothing.
@register_objective("sft-above", ranges={"threshold": (0.0, 1.0)})
def sft_above(batch: TokenBatch, *, threshold: float = 0.1) -> Tensor:
    """−log p on target tokens with p ≥ threshold, 0 on the others (threshold=0: SFT)."""
    return _weighted_nll(batch, (batch.logp.exp() >= threshold).to(batch.logp.dtype))


@register_objective("sft-below", ranges={"threshold": (0.0, 1.0)})
def sft_below(batch: TokenBatch, *, threshold: float = 0.1) -> Tensor:
    """−log p on target tokens with p < threshold, 0 on the others (threshold=1: SFT, except at p = 1)."""
    return _weighted_nll(batch, (batch.logp.exp() < threshold).to(batch.logp.dtype))


# Li et al.'s OnlyTopP: the prior-leaning −p (DFT's gradient) on the tokens the model already finds likely only.
@register_objective("only-top-p", ranges={"threshold": (0.0, 1.0)})
def only_top_p(batch: TokenBatch, *, threshold: float = 0.1) -> Tensor:
    """−p on target tokens with p ≥ threshold, 0 on the others (threshold=0: −p, DFT's gradient). Weight p·1[p ≥ t]."""
    import torch

    p = batch.logp.exp()
    return torch.where(batch.mask & (p >= threshold), -p, 0.0)


@register_objective("asft", needs_vocab_logp=True, ranges={"kl_weight": (0.0, 1e6)})
def asft(batch: TokenBatch, *, kl_weight: float = 0.1, kl_direction: str = "policy||base") -> Tensor:
    """DFT + kl_weight·KL at every target position, exact over the full vocabulary (Anchored SFT).

    kl_direction "policy||base" is KL(π_θ‖π_base) = Σ_v π_θ(v)·(log π_θ(v) − log π_base(v));
    "base||policy" is KL(π_base‖π_θ), what the ASFT authors' reference code computes
    (F.kl_div(log_softmax(policy), softmax(base))). Needs the trainer to materialize both models'
    logits (memory B·T·V per model), unlike the other objectives.
    """
    if batch.vocab_logp is None or batch.ref_vocab_logp is None:
        raise ProbscopeError("objective 'asft' needs the policy's and the frozen base model's log-probabilities")
    policy, base = batch.vocab_logp, batch.ref_vocab_logp
    if kl_direction == "policy||base":
        kl = (policy.exp() * (policy - base)).sum(-1)
    elif kl_direction == "base||policy":
        kl = (base.exp() * (base - policy)).sum(-1)
    else:
        raise ProbscopeError(f"objective 'asft': kl_direction '{kl_direction}' is not policy||base or base||policy")
    return dft(batch) + torch.where(batch.mask, kl_weight * kl, 0.0)


def sentence_weight_underflow(logp: Tensor, mask: Tensor, seq_ids: Tensor | None = None) -> tuple[int, int]:
    """(replies whose dft-sentence weight exp(Σ log p) is exactly 0 in `logp`'s dtype, replies with targets).

    In float32 the weight underflows once a reply's summed log p is below about −103: such a reply gets no
    gradient under dft-sentence. The dynamics column schema.SENTENCE_WEIGHT_UNDERFLOW is the ratio.
    """
    ids = seq_ids if seq_ids is not None else sequence_ids(mask)
    with torch.no_grad():
        batch = TokenBatch(logp.detach(), mask, ids)
        total, count = _sequence_sum(torch.where(mask, logp.detach(), 0.0), batch)
        replies = ids[mask & (count > 0)]
        weights = total.exp()[mask & (count > 0)]
        unique, first = torch.unique(replies, return_inverse=True)
        underflowed = torch.zeros(unique.numel(), dtype=torch.bool, device=logp.device).index_fill(
            0, first[weights == 0], True)
    return int(underflowed.sum()), int(unique.numel())
