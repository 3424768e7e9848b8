"""PPO on TRL 1.16's GRPOTrainer: a value model and per-token GAE advantages in place of group-normalized rewards.

    probscope train train/builtin-ppo.yaml        # trainer: ppo, reward: builtin-reasoning

TRL 1.16 has no PPOTrainer (removed in 1.13); pinning TRL 1.12 for it would lose the fused LM head that keeps
[B, T, V] logits out of memory in every other trainer (see the README, "PPO"). So PPO reuses GRPOTrainer's
generation, reward calls, reference model, clipped-ratio policy loss and optimizer, and changes what PPO changes:

  * a value model: a copy of the starting model's trunk plus a scalar head (zero-initialized), trained by its own
    AdamW on the clipped value loss; saved with the trainer state so a killed run resumes with its critic;
  * per-token rewards: the verifier's score at the last completion token, minus `kl_coef` times the sampled
    token's log-ratio to the reference (the KL penalty lives in the reward, so TRL's `beta` must stay 0);
  * advantages by GAE(gamma, lam) over the completion tokens, whitened over the batch's tokens, handed to TRL's
    loss as a [B, T] tensor (GRPOTrainer accepts per-token advantages); `num_iterations` > 1 gives PPO epochs
    over each generation batch, where TRL's ratio clip (epsilon) acts.

The math is the pure functions below (tested against closed forms and a hand-computed batch); the trainer
class only wires them into TRL's two hooks: `_generate_and_score_completions` and `_compute_loss`.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import torch
from trl import GRPOConfig

from probscope.errors import ProbscopeError
from probscope.training.rl import GRPODynamicsTrainer

VALUE_STATE = "value_model.pt"


@dataclass
class PPOConfig(GRPOConfig):
    gamma: float = field(default=1.0, metadata={"help": "ppo: discount of later token rewards in GAE."})
    lam: float = field(default=0.95, metadata={"help": "ppo: GAE lambda (1: Monte-Carlo returns, 0: one-step TD)."})
    kl_coef: float = field(
        default=0.05, metadata={"help": "ppo: per-token KL penalty against the starting model, in the reward "
                                        "(0: no reference model)."}
    )
    vf_coef: float = field(default=0.1, metadata={"help": "ppo: weight of the value loss."})
    cliprange_value: float = field(
        default=0.2, metadata={"help": "ppo: how far a value prediction may move from the one made at generation."}
    )
    vf_learning_rate: float | None = field(
        default=None, metadata={"help": "ppo: the value model's learning rate (default: learning_rate)."}
    )
    whiten_advantages: bool = field(
        default=True, metadata={"help": "ppo: normalize advantages to mean 0, std 1 over the batch's tokens."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.beta != 0.0:
            raise ProbscopeError(f"beta: {self.beta} is not allowed for trainer ppo; its KL penalty is kl_coef "
                                 f"(in the reward), set beta to 0")


# ---- the math ------------------------------------------------------------------------------------------
def token_rewards(scores: torch.Tensor, logps: torch.Tensor, ref_logps: torch.Tensor | None, mask: torch.Tensor,
                  kl_coef: float) -> torch.Tensor:
    """[B, T] rewards: -kl_coef * (log p - log p_ref) per token, plus the sequence score at its last token."""
    rewards = torch.zeros_like(logps) if ref_logps is None else -kl_coef * (logps - ref_logps)
    rewards = rewards * mask
    last = (mask.sum(-1).long() - 1).clamp(min=0)
    rows = torch.arange(rewards.size(0), device=rewards.device)
    rewards[rows, last] += scores * (mask.sum(-1) > 0)
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """(advantages, returns), [B, T]: A_t = delta_t + gamma*lam*A_{t+1}, delta_t = r_t + gamma*V_{t+1} - V_t,
    with V = 0 after the last completion token; returns = A + V. Padding positions get 0."""
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.size(1))):
        next_value = values[:, t + 1] if t + 1 < rewards.size(1) else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x normalized to mean 0, std 1 over the masked positions (padding stays 0)."""
    n = mask.sum().clamp(min=1.0)
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    return (x - mean) * torch.rsqrt(var + eps) * mask


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, clipped fraction): 0.5 * masked mean of max((V - R)^2, (V_clip - R)^2), V_clip = V_old ± clip."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    unclipped_err, clipped_err = (values - returns) ** 2, (clipped - returns) ** 2
    n = mask.sum().clamp(min=1.0)
    loss = 0.5 * (torch.maximum(unclipped_err, clipped_err) * mask).sum() / n
    frac = ((clipped_err > unclipped_err).float() * mask).sum() / n
    return loss, frac


# ---- the value model -----------------------------------------------------------------------------------
class ValueModel(torch.nn.Module):
    """The starting model's trunk (a copy) and a linear head: one value per position."""

    def __init__(self, policy):
        super().__init__()
        self.trunk = copy.deepcopy(policy.base_model)
        self.head = torch.nn.Linear(policy.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, n_completion: int) -> torch.Tensor:
        """[B, n_completion]: the value of the state before each completion token (the position predicting it)."""
        hidden = self.trunk(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden[:, -n_completion - 1:-1]).squeeze(-1).float()


# ---- the trainer ---------------------------------------------------------------------------------------
class PPOTrainer(GRPODynamicsTrainer):
    """GRPOTrainer with a critic: GAE advantages per token, a clipped value loss, the KL penalty in the reward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg: PPOConfig = self.args
        policy = self.accelerator.unwrap_model(self.model)
        self.value_model = ValueModel(policy).to(self.accelerator.device)
        self.value_optimizer = torch.optim.AdamW(self.value_model.parameters(),
                                                 lr=cfg.vf_learning_rate or cfg.learning_rate)
        # the reference for the KL penalty: a frozen copy of the starting policy (TRL makes none with beta = 0)
        self.reward_reference = copy.deepcopy(policy).eval().requires_grad_(False) if cfg.kl_coef else None
        self._scores: torch.Tensor | None = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        self._scores = torch.nan_to_num(rewards_per_func * weights).sum(dim=1)   # every process's completions
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        cfg: PPOConfig = self.args
        completion_ids, mask = output["completion_ids"], output["completion_mask"].float()
        n = completion_ids.size(0)
        scores = self._scores[self.accelerator.process_index * n:(self.accelerator.process_index + 1) * n]
        input_ids = torch.cat([output["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        t = completion_ids.size(1)
        with torch.no_grad():
            logps = output.get("old_per_token_logps")
            if logps is None:
                logps, _, _ = self._get_per_token_logps_and_entropies(self.model, input_ids, attention_mask, t)
            ref_logps = None
            if self.reward_reference is not None:
                ref_logps, _, _ = self._get_per_token_logps_and_entropies(
                    self.reward_reference, input_ids, attention_mask, t)
            values = self.value_model(input_ids, attention_mask, t) * mask
        rewards = token_rewards(scores.to(logps.device), logps, ref_logps, mask, cfg.kl_coef)
        advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            advantages = whiten(advantages, mask)
        output.update(advantages=advantages, returns=returns, old_values=values)
        if ref_logps is not None:
            kl = ((logps - ref_logps) * mask).sum() / mask.sum().clamp(min=1.0)
            self._metrics["train"]["kl"].append(self.accelerator.gather(kl).mean().item())
        return output

    def _compute_loss(self, model, inputs):
        policy_loss = super()._compute_loss(model, inputs)
        cfg: PPOConfig = self.args
        completion_ids, mask = inputs["completion_ids"], inputs["completion_mask"].float()
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        values = self.value_model(input_ids, attention_mask, completion_ids.size(1))
        value_loss, clipped = clipped_value_loss(values, inputs["old_values"], inputs["returns"], mask,
                                                 cfg.cliprange_value)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["value_loss"].append(self.accelerator.gather(value_loss.detach()).mean().item())
        self._metrics[mode]["value_clipfrac"].append(self.accelerator.gather(clipped).mean().item())
        if mode == "train":
            (cfg.vf_coef * value_loss / self.current_gradient_accumulation_steps).backward()
        return policy_loss

    def training_step(self, model, inputs, num_items_in_batch):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._step % self.current_gradient_accumulation_steps == 0:   # the policy's optimizer steps now too
            self._step_value_model()
        return loss

    def _step_value_model(self) -> None:
        params = [p for p in self.value_model.parameters() if p.grad is not None]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for p in params:   # the value model is not wrapped for data parallelism: average its gradients here
                torch.distributed.all_reduce(p.grad)
                p.grad /= torch.distributed.get_world_size()
        if self.args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, self.args.max_grad_norm)
        self.value_optimizer.step()
        self.value_optimizer.zero_grad(set_to_none=True)

    def _save_optimizer_and_scheduler(self, output_dir):
        # with the policy's optimizer, before trainer_state.json marks the state complete: a state is never
        # resumed without its critic
        super()._save_optimizer_and_scheduler(output_dir)
        if self.args.should_save:
            torch.save({"model": self.value_model.state_dict(), "optimizer": self.value_optimizer.state_dict()},
                       os.path.join(output_dir, VALUE_STATE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        path = os.path.join(checkpoint, VALUE_STATE) if checkpoint is not None else None
        if path is not None and os.path.exists(path):
            state = torch.load(path, map_location=self.accelerator.device, weights_only=True)
            self.value_model.load_state_dict(state["model"])
            self.value_optimizer.load_state_dict(state["optimizer"])
