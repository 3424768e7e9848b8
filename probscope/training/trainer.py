"""ObjectiveSFTTrainer: TRL's SFTTrainer trained with any objective of the probscope.training.objectives registry.

    from probscope.training.trainer import ObjectiveSFTTrainer
    trainer = ObjectiveSFTTrainer(model, args=SFTConfig(...), train_dataset=ds, processing_class=tokenizer,
                                  objective="dft-floor", objective_args={"floor": 0.2})
    trainer.train()

The dataset is pre-tokenized (`input_ids`, `labels` with -100 off target). Every objective except asft
reads the per-token log-probabilities of TRL's fused LM head, which never materializes the [B, T, V]
logits; asft needs both models' full-vocabulary distributions and runs the plain forward.

Normalization (the one place for it): loss = sum of the micro-batch's per-token losses divided by
`num_items_in_batch`, the target tokens of the whole gradient-accumulation window on all ranks, as TRL
does. The accumulated gradient is then that of a true token mean over the window, independent of the
micro-batch split. The trainer always counts `num_items_in_batch` (`model_accepts_loss_kwargs`), so
this holds for any model. `loss_normalization="micro_batch"` instead takes each micro-batch's token mean
and averages those over the window's micro-batches (and ranks): the DFT authors' released (verl) recipe.

Logged per logging step besides TRL's metrics (entropy, mean_token_accuracy, num_tokens): the batch's
SFT loss (mean -log p) and DFT loss (mean -p*log p) whatever the objective, as the DFT paper's code does.
Like TRL's entropy, they are per-micro-batch token means averaged over the steps since the last log.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from accelerate.utils import is_peft_model
from trl import SFTConfig, SFTTrainer
from trl.trainer.utils import add_fused_lm_head

from probscope import schema
from probscope.errors import ProbscopeError
from probscope.token_stats import logit_statistics
from probscope.training.objectives import Objective, TokenBatch, get_objective, sequence_ids

# The fused head's per-token outputs: TRL's own three, plus log sum_j p_j^2 so that a
# GradientWeightCallback can compute logit-gradient norms (1 - 2p + sum_j p_j^2) without another pass.
FUSED_OUTPUTS = ("log_probs", "entropy", "is_top1", "log_sum_sq_probs")
# window: sum of per-token losses / target tokens of the accumulation window (a true token mean);
# micro_batch: mean over the window's micro-batches of each one's token mean (the DFT authors' code)
LOSS_NORMALIZATIONS = ("window", "micro_batch")


class ObjectiveSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss is `objective` (a probscope.training.objectives name) with `objective_args`.

    `ref_model` is the frozen base model for objectives that need one (asft); by default a frozen copy
    of `model` as given, i.e. the starting point of training.
    """

    def __init__(self, model, args=None, *, objective: str = "sft", objective_args: dict[str, Any] | None = None,
                 ref_model=None, loss_normalization: str = "window", **kwargs):
        if loss_normalization not in LOSS_NORMALIZATIONS:
            raise ProbscopeError(f"loss_normalization {loss_normalization!r}: "
                                 f"use one of {', '.join(LOSS_NORMALIZATIONS)}")
        self.loss_normalization = loss_normalization
        self.objective: Objective = get_objective(objective)
        self.objective_args = self.objective.resolve_args(objective_args)
        if self.objective.needs_vocab_logp and ref_model is None:
            ref_model = _frozen_copy(model, args)
        super().__init__(model, args=args, **kwargs)
        _refuse_conflicting_losses(self)
        model = cast(Any, self.model)   # Trainer's __init__ has set it; a PEFT model is typed as a plain Module
        target = model.get_base_model() if is_peft_model(model) else model
        add_fused_lm_head(target, outputs=FUSED_OUTPUTS)
        # our compute_loss divides by num_items_in_batch itself: make Trainer always count it, and not
        # divide the loss again by the accumulation steps
        self.model_accepts_loss_kwargs = True
        self.ref_model: torch.nn.Module | None = None
        if ref_model is not None:
            ref_model.eval().requires_grad_(False)
            self.ref_model = self.accelerator.prepare_model(ref_model, evaluation_mode=True)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        if self.objective.needs_vocab_logp:
            batch, entropy, is_top1 = self._vocab_forward(model, inputs)
        else:
            outputs = model(**inputs, fused_lm_head=True)
            batch = TokenBatch(
                logp=outputs.log_probs, mask=outputs.label_mask,
                sequence_ids=sequence_ids(outputs.label_mask, inputs.get("position_ids")),
            )
            entropy, is_top1 = outputs.entropy, outputs.is_top1
        per_token = self.objective.per_token_loss(batch, self.objective_args)
        if self.loss_normalization == "micro_batch" and model.training:
            # this micro-batch's token mean, / the window's micro-batches (DDP averages the ranks)
            loss = per_token.sum() / batch.mask.sum().clamp(min=1) / self.args.gradient_accumulation_steps
            self._log_token_metrics(mode, inputs, batch, entropy, is_top1)
            return loss
        num_tokens = batch.mask.sum() if num_items_in_batch is None else num_items_in_batch
        # clamped: a micro-batch without target tokens gives a finite zero, not 0/0
        loss = per_token.sum() / torch.as_tensor(num_tokens).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # num_items_in_batch counts every rank's tokens while DDP averages the ranks' gradients
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        self._log_token_metrics(mode, inputs, batch, entropy, is_top1)
        if return_outputs:   # only prediction_step asks (eval with logits): recompute them, like TRL
            with torch.no_grad():
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            return loss, outputs
        return loss

    def _vocab_forward(self, model, inputs) -> tuple[TokenBatch, torch.Tensor, torch.Tensor]:
        """Full-vocabulary log-probs of the policy and the frozen base at the shifted target positions,
        plus the entropy and top-1 flag of each target token (1-D: _log_token_metrics only sums them)."""
        # labels go in too (the model's own loss is unused) so that forward hooks such as
        # probscope.training.callbacks.GradientWeightCallback see them, as on the fused path
        logits = model(**inputs).logits[:, :-1]
        labels = inputs["labels"][:, 1:]
        mask = labels != -100
        assert self.ref_model is not None, "__init__ sets ref_model for an objective that needs the vocabulary"
        with torch.no_grad():
            ref_logits = self.ref_model(**{k: v for k, v in inputs.items() if k != "labels"}).logits[:, :-1]
        vocab_logp = torch.log_softmax(logits.float(), dim=-1)
        ref_vocab_logp = torch.log_softmax(ref_logits.float(), dim=-1)
        targets = labels.clamp(min=0).unsqueeze(-1)
        logp = torch.where(mask, vocab_logp.gather(-1, targets).squeeze(-1), 0.0)
        stats = logit_statistics(logits.detach(), labels, mask)   # the logged metrics, at the target positions
        batch = TokenBatch(logp, mask, sequence_ids(mask, inputs.get("position_ids")), vocab_logp, ref_vocab_logp)
        return batch, stats["entropy"], stats["is_top1"]

    def _log_token_metrics(self, mode, inputs, batch: TokenBatch, entropy, is_top1) -> None:
        """TRL's metrics (entropy, mean_token_accuracy, num_tokens) plus the SFT and DFT losses of the batch."""
        with torch.no_grad():
            logp = batch.logp.detach().float()
            # one gather and one device sync for all of them: [target tokens, then one sum per metric]
            sums = torch.stack([
                batch.mask.sum().float(), entropy.detach().float().sum(), is_top1.float().sum(),
                -logp.sum(), -(logp.exp() * logp).sum(),
            ])
            num_valid, *totals = self.accelerator.gather_for_metrics(sums.unsqueeze(0)).sum(0).tolist()
        names = ("entropy", "mean_token_accuracy", schema.SFT_LOSS, schema.DFT_LOSS)
        for name, total in zip(names, totals, strict=False):
            self._metrics[mode][name].append(total / num_valid if num_valid > 0 else 0.0)
        if mode == "train":
            if "attention_mask" in inputs:
                local = inputs["attention_mask"].sum()
            else:   # padding-free batches carry position_ids, one packed row
                local = torch.tensor(inputs["position_ids"].size(1), device=inputs["position_ids"].device)
            self._total_train_tokens += self.accelerator.gather_for_metrics(local).sum().item() // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


def _frozen_copy(model, args):
    """The base model for asft: a copy of `model` before training touches it (or it loaded from its path)."""
    if isinstance(model, str):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(model, **(getattr(args, "model_init_kwargs", None) or {}))
    # copied before SFTTrainer patches model.forward with the fused head, so the copy keeps the plain one
    return copy.deepcopy(model)


def _refuse_conflicting_losses(trainer: ObjectiveSFTTrainer) -> None:
    """Settings under which TRL would compute another loss than the objective: a one-line error instead."""
    args = cast(SFTConfig, trainer.args)   # Trainer types it as TrainingArguments; SFTTrainer's is an SFTConfig
    conflicts = {
        f"loss_type={args.loss_type!r} (leave it 'nll'; the objective decides the loss)": args.loss_type != "nll",
        "compute_loss_func": trainer.compute_loss_func is not None,
        "label_smoothing_factor": trainer.label_smoother is not None,
        "a MoE router auxiliary loss (set router_aux_loss_coef=0)": trainer.aux_loss_enabled,
    }
    found = [name for name, present in conflicts.items() if present]
    if found:
        raise ProbscopeError(f"ObjectiveSFTTrainer(objective='{trainer.objective.name}') cannot train with "
                             f"{', '.join(found)}")
