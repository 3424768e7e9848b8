"""RL trainers of a recipe: TRL's DPOTrainer and GRPOTrainer (and PPO on it), fed probscope's data and verifiers.

    probscope sample train/builtin-sample.yaml ...          # -> accepted.jsonl (RFT / offline DFT), pairs.jsonl (DPO)
    probscope train train/builtin-dpo.yaml                  # trainer: dpo, data: pairs.jsonl
    probscope train train/builtin-grpo.yaml                 # trainer: grpo, reward: builtin-reasoning
    probscope train train/builtin-ppo.yaml                  # trainer: ppo (probscope.training.ppo)

Prompts go to TRL in conversational form ([{"role": "user", ...}], plus fmt.system_prompt), so TRL
renders them with the tokenizer's chat template exactly as SFT training does. The subclasses only hand
the tokens the policy trains on to probscope.training.rl_callbacks.RLDynamicsCallback; the losses are TRL's.

References: DPO's is a frozen copy of the starting model (TRL would otherwise try to load one by the
model's name); GRPO's (beta > 0) is loaded by TRL from the starting model's directory. With LoRA, TRL
uses the policy with its adapter disabled as the reference for both.
"""

from __future__ import annotations

import copy
import logging
import os

import torch
from trl import DPOTrainer, GRPOTrainer

from probscope.data import DataFormat, read_records
from probscope.data.encoding import prompt_messages
from probscope.data.formats import read_turns
from probscope.errors import ProbscopeError
from probscope.training.rl_callbacks import RLDynamicsCallback

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
GENERATION_STATE = "generation_state-{rank}.pt"   # in a trainer state: the samples its next steps train on


# ---- datasets ------------------------------------------------------------------------------------------
def preference_dataset(path: str, fmt: DataFormat, limit: int | None = None):
    """prompt / chosen / rejected rows (what `probscope sample` writes) in TRL's conversational form."""
    from datasets import Dataset

    records = read_records(path)[:limit]
    if not records:
        raise ProbscopeError(f"{path}: no rows")
    rows, dropped = [], {"chosen equals rejected": 0, "empty chosen reply": 0}
    for number, record in enumerate(records, 1):
        missing = [c for c in PAIR_COLUMNS if not isinstance(record.get(c), (str, list))]
        if missing:
            raise ProbscopeError(f"{path}: row {number}: missing field(s) {', '.join(missing)} "
                                 f"(DPO data has {', '.join(PAIR_COLUMNS)}: see `probscope sample`)")
        problem = pair_problem(record["chosen"], record["rejected"])
        if problem:   # such a pair has no preference to learn (or teaches an empty reply): never trained on
            dropped[problem] += 1
            continue
        prompt = record["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if fmt.system_prompt is not None and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": fmt.system_prompt}, *messages]
        rows.append({"prompt": messages, **{c: _assistant(record[c]) for c in ("chosen", "rejected")}})
    reasons = ", ".join(f"{n} with {why}" for why, n in dropped.items() if n)
    if not rows:
        raise ProbscopeError(f"{path}: no usable preference pair ({reasons})")
    if reasons:
        logger.warning("%s: %d of %d pairs dropped (%s)", path, len(records) - len(rows), len(records), reasons)
    return Dataset.from_list(rows)


def pair_problem(chosen, rejected) -> str | None:
    """Why a pair cannot train DPO: its chosen reply is empty, or it equals the rejected one; None when fine."""
    from probscope.training.rewards import completion_text

    text = completion_text(chosen)
    if not text.strip():
        return "empty chosen reply"
    if text.strip() == completion_text(rejected).strip():
        return "chosen equals rejected"
    return None


def prompt_dataset(path: str, fmt: DataFormat, limit: int | None = None):
    """prompt (conversational) + answer rows for GRPO, from any dataset format with a reference answer."""
    from datasets import Dataset

    records = read_records(path)[:limit]
    rows = []
    for number, record in enumerate(records, 1):
        turns = read_turns(record, fmt, source=str(path), row=number)
        if turns.answer is None:
            raise ProbscopeError(f"{path}: row {number}: no reference answer for the verifier "
                                 f"(column {fmt.answer_column!r}, or a \\boxed{{}} in the solution)")
        rows.append({"prompt": prompt_messages(turns, fmt), "answer": str(turns.answer)})
    if not rows:
        raise ProbscopeError(f"{path}: no rows")
    return Dataset.from_list(rows)


def _assistant(reply) -> list[dict]:
    return [{"role": "assistant", "content": reply}] if isinstance(reply, str) else reply


# ---- trainers ------------------------------------------------------------------------------------------
class DPODynamicsTrainer(DPOTrainer):
    """TRL's DPOTrainer that hands the chosen replies' token log-probs of each loss forward to `dynamics`."""

    def __init__(self, *args, dynamics: RLDynamicsCallback | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if dynamics is not None:
            assert self.model is not None, "the trainer's __init__ sets its model"
            self.model.register_forward_hook(_chosen_tokens_hook(dynamics), with_kwargs=True)


def _chosen_tokens_hook(dynamics: RLDynamicsCallback):
    def hook(module, args, kwargs, output):
        # the policy's forward with gradients: DPO's loss; the reference's (a copy, or adapters disabled) has none
        if not (module.training and torch.is_grad_enabled()) or getattr(output, "log_probs", None) is None:
            return
        chosen = output.log_probs.size(0) // 2          # DPO concatenates [chosen; rejected]
        mask = output.label_mask[:chosen]
        entropy = output.entropy[:chosen][mask] if output.entropy is not None else None
        dynamics.record_tokens(output.log_probs[:chosen][mask], entropy)

    return hook


class GRPODynamicsTrainer(GRPOTrainer):
    """TRL's GRPOTrainer that hands the sampled completions' token log-probs of each loss forward to `dynamics`."""

    def __init__(self, *args, dynamics: RLDynamicsCallback | None = None, **kwargs):
        self.dynamics = dynamics
        super().__init__(*args, **kwargs)

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args,
                                           compute_entropy=False, **kwargs):
        logps, entropies, aux = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, compute_entropy=compute_entropy, **kwargs)
        # the loss forward is the one that asks for entropies (old/reference log-probs do not)
        if self.dynamics is not None and compute_entropy and model.training:
            mask = attention_mask[:, -logits_to_keep:].bool()
            self.dynamics.record_tokens(logps.detach()[mask], None if entropies is None else entropies.detach()[mask])
        return logps, entropies, aux

    # A killed run resumes from the trainer state of a step that may lie inside a generation batch's
    # num_iterations epochs; TRL would sample a new batch there (its buffer is not saved), so the resumed run
    # would differ from one never killed. Each process saves its buffer and step counter with the optimizer:
    # before trainer_state.json, which marks a state complete (a kill in between leaves no usable state).
    def _save_optimizer_and_scheduler(self, output_dir):
        super()._save_optimizer_and_scheduler(output_dir)
        generate_every = self.args.steps_per_generation * self.num_iterations
        buffered = self._buffered_inputs if self._step % generate_every else None   # else: resampled anyway
        torch.save({"step": self._step, "buffered_inputs": buffered},
                   os.path.join(output_dir, GENERATION_STATE.format(rank=self.accelerator.process_index)))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        path = None if checkpoint is None else os.path.join(
            checkpoint, GENERATION_STATE.format(rank=self.accelerator.process_index))
        if path is not None and os.path.exists(path):
            state = torch.load(path, map_location=self.accelerator.device, weights_only=True)
            self._step, self._buffered_inputs = state["step"], state["buffered_inputs"]


def build_dpo_trainer(model, args, dataset, tokenizer, callbacks, dynamics, peft_config):
    # a frozen copy of the starting model as the reference (LoRA: TRL disables the adapter instead)
    ref_model = None if peft_config is not None else copy.deepcopy(model)
    return DPODynamicsTrainer(model=model, ref_model=ref_model, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=callbacks, peft_config=peft_config,
                              dynamics=dynamics)


def build_grpo_trainer(model, args, dataset, tokenizer, callbacks, dynamics, peft_config, reward: str | None):
    from probscope.training.rewards import trl_reward_function

    if not reward:
        raise ProbscopeError("trainer grpo needs `reward`: a verifier name (builtin-reasoning, builtin-facts, math)")
    return GRPODynamicsTrainer(model=model, reward_funcs=trl_reward_function(reward), args=args,
                               train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks,
                               peft_config=peft_config, dynamics=dynamics)


def build_ppo_trainer(model, args, dataset, tokenizer, callbacks, dynamics, peft_config, reward: str | None):
    from probscope.training.ppo import PPOTrainer
    from probscope.training.rewards import trl_reward_function

    if not reward:
        raise ProbscopeError("trainer ppo needs `reward`: a verifier name (builtin-reasoning, builtin-facts, math)")
    if peft_config is not None:
        raise ProbscopeError("trainer ppo does not support `lora` (its value model copies the full trunk)")
    return PPOTrainer(model=model, reward_funcs=trl_reward_function(reward), args=args, train_dataset=dataset,
                      processing_class=tokenizer, callbacks=callbacks, dynamics=dynamics)
