"""Gradient-weight statistics of the training batch while training runs: the TrainerCallback that writes them.

    from probscope.training.callbacks import GradientWeightCallback
    trainer.add_callback(GradientWeightCallback(run.dynamics_dir))     # any transformers/TRL Trainer
    trainer.train()
    # polars, schema.DYNAMICS_COLUMNS, one row per (step, objective)
    probscope.analysis.dynamics.read_dynamics(run.dynamics_dir)

How it sees the batch: on the optimizer steps it records (every `every` steps, default the trainer's
logging_steps) it registers a forward hook on the model for that step's micro-batches only, and
removes it at step end, so other steps pay nothing. The hook reads, whichever the model returns:
  * TRL's fused LM-head outputs (SFTTrainer, probscope's ObjectiveSFTTrainer): per-token log p, entropy
    and, where requested, log sum_j p_j^2 (ObjectiveSFTTrainer requests it; with a plain SFTTrainer add
    it with trl.trainer.utils.add_fused_lm_head(trainer.model, outputs=probscope.training.trainer.FUSED_OUTPUTS),
    else the grad_sq_share column is null);
  * plain logits plus the `labels` argument (a transformers Trainer): the same statistics from the
    logits, by probscope.token_stats.logit_statistics (in blocks of target positions).

Per recorded step and registered objective (those whose weight depends on log p alone; asft's weight on
the target token is dft's) it writes the columns of schema.DYNAMICS_COLUMNS: the histogram of p in the
Figure-2 bins, the mean and quantiles of the objective's weight in the logit view (gradient = w x SFT's:
SFT 1, DFT p) and in the RL view (w/p: SFT 1/p, DFT 1; see probscope/training/objectives.py), the share of
sum_t w_t^2 * |grad_z log p_t|^2 from each bin (per token |grad_z|^2 = 1 - 2p + sum_j p_j^2: the squared
logit-gradient norm the objective puts on the token; shares of this sum, not of the norm of the summed
gradient, where tokens interfere), mean entropy, SFT and DFT losses, and the trainer's grad norm,
learning rate and input tokens seen so far (the trainer's count, which it turns on: non-padding) at that step.
Rows are flushed every `flush_every` recorded steps and at train end, each flush one Parquet part written
atomically: a killed run keeps every part flushed before it died.
With several processes every rank's tokens are gathered and rank 0 writes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, cast

import polars as pl
import torch
from transformers import TrainerCallback

from probscope import schema
from probscope.runs import DYNAMICS_PART_GLOB, Run, write_parquet_atomic
from probscope.token_stats import logit_statistics
from probscope.training.objectives import (
    get_objective,
    gradient_weight,
    objective_names,
    sentence_weight_underflow,
    sequence_ids,
)


class GradientWeightCallback(TrainerCallback):
    """Records the batch's gradient-weight statistics every `every` optimizer steps into `out_dir`.

    `objective_args` maps an objective name to its hyper-parameters (e.g. {"power": {"q": 0.25}});
    the others use their defaults.
    """

    def __init__(self, out_dir: str | Path, every: int | None = None, flush_every: int = 5,
                 objective_args: dict[str, dict[str, Any]] | None = None):
        self.out_dir = Path(out_dir)
        self.every = every
        self.flush_every = flush_every
        self.objective_args = {name: get_objective(name).resolve_args(args)
                               for name, args in (objective_args or {}).items()}
        self.objectives = [n for n in objective_names() if not get_objective(n).needs_vocab_logp]
        self._every = every
        self._hook = None
        self._captured: list[dict[str, torch.Tensor]] = []
        self._pending: list[dict[str, Any]] | None = None   # rows waiting for the trainer's log of their step
        self._rows: list[dict[str, Any]] = []
        self._warned: set[str] = set()
        self._counting = False   # whether the trainer's token count started with the run (on_train_begin)

    # ---- trainer events ------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._every = self.every or state.logging_steps
        # tokens seen (schema.TOKENS_SEEN): the trainer's own count, kept in its state across resumes; exact only
        # when it counted from step 0 (a resume of a run that did not count starts at 0: unknown)
        self._counting = state.global_step == 0 or state.num_input_tokens_seen > 0
        if args.include_num_input_tokens_seen == "no":
            args.include_num_input_tokens_seen = "non_padding"
        if state.is_world_process_zero:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            forget_dynamics_after(self.out_dir, state.global_step)

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        step = state.global_step + 1          # the optimizer step this window of micro-batches makes
        if step % self._every == 0 or (step == 1 and args.logging_first_step):
            self._captured = []
            self._hook = model.register_forward_hook(self._capture, with_kwargs=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self._hook is None:
            return
        self._hook.remove()
        self._hook = None
        tokens = _gather_ranks(_concat(self._captured))
        self._captured = []
        if not state.is_world_process_zero or tokens is None:
            return
        rows = summarize(tokens, state.global_step, self.objectives)
        for row in rows:
            row[schema.TOKENS_SEEN] = state.num_input_tokens_seen if self._counting else None
        if control.should_log:   # the trainer logs this step next: on_log adds its grad norm and lr
            self._pending = rows
        else:
            self._add(rows)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._pending is None or self._pending[0][schema.STEP] != state.global_step:
            return
        for row in self._pending:   # "grad_norm" and "learning_rate" are transformers' log keys
            row[schema.GRAD_NORM] = (logs or {}).get("grad_norm")
            row[schema.LEARNING_RATE] = (logs or {}).get("learning_rate")
        self._add(self._pending)
        self._pending = None

    def on_train_end(self, args, state, control, **kwargs):
        if self._pending is not None:
            self._add(self._pending)
            self._pending = None
        self.flush()

    # ---- capture and write -----------------------------------------------------------------------------
    def _capture(self, module, args, kwargs, output):
        tokens = token_stats(output, kwargs)
        if tokens is None:
            self._warn_once("unreadable", "GradientWeightCallback: the model's output has neither TRL's fused "
                            "log_probs nor logits with a `labels` argument; nothing recorded")
            return
        if "sum_p2" not in tokens:
            self._warn_once("sum_p2", "GradientWeightCallback: the fused LM head does not return log_sum_sq_probs; "
                            "grad_sq_share will be null (see probscope.training.callbacks' docstring)")
        logp_grid, mask, seq_ids = tokens.pop("_grid")
        underflow, replies = sentence_weight_underflow(logp_grid, mask, seq_ids)
        tokens["_underflow"], tokens["_replies"] = torch.tensor([float(underflow)]), torch.tensor([float(replies)])
        for name in self.objectives:
            weight = gradient_weight(name, logp_grid, mask, seq_ids, self.objective_args.get(name))
            tokens[f"w:{name}"] = weight[mask]
        self._captured.append(tokens)

    def _add(self, rows: list[dict[str, Any]]) -> None:
        self._rows.extend(rows)
        if len({row[schema.STEP] for row in self._rows}) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one Parquet part (atomically) and empty the buffer."""
        write_dynamics_part(self.out_dir, self._rows)
        self._rows = []

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=2)


# ---- per-token statistics from a forward's output -------------------------------------------------------
def token_stats(output, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Per-target-token logp, entropy, sum_p2 (1-D, detached) from a causal LM's forward, or None.

    Also returns under "_grid" the [B, T] logp, target mask and sequence ids the weights need.
    """
    with torch.no_grad():
        if getattr(output, "log_probs", None) is not None:      # TRL's fused LM head: already shifted
            mask = output.label_mask
            logp = output.log_probs.detach()
            entropy = None if output.entropy is None else output.entropy.detach()[mask]
            sum_p2 = None if output.log_sum_sq_probs is None else output.log_sum_sq_probs.exp()[mask]
        elif getattr(output, "logits", None) is not None and kwargs.get("labels") is not None:
            labels = kwargs["labels"][:, 1:]   # the logits at t predict the label at t + 1
            mask = labels != -100
            stats = logit_statistics(output.logits.detach()[:, :-1], labels, mask)
            logp = torch.zeros(mask.shape, device=mask.device)
            logp[mask] = stats["logp"]
            entropy, sum_p2 = stats["entropy"], stats["sum_p2"]
        else:
            return None
        positions = kwargs.get("position_ids")
        if positions is not None and positions.shape[-1] != mask.shape[-1] + 1:
            positions = None   # pre-shifted (context-parallel) inputs: rows count as sequences
        tokens = {"logp": logp[mask].float(), "_grid": (logp.float(), mask, sequence_ids(mask, positions))}
        if entropy is not None:
            tokens["entropy"] = entropy.float()
        if sum_p2 is not None:
            tokens["sum_p2"] = sum_p2.float()
        return tokens


def _concat(captured: list[dict[str, torch.Tensor]]) -> dict[str, Any] | None:
    """Micro-batches' token statistics joined into CPU float64 numpy arrays (keys every micro-batch has)."""
    if not captured:
        return None
    keys = set.intersection(*(set(c) for c in captured))
    return {k: torch.cat([c[k] for c in captured]).double().cpu().numpy() for k in sorted(keys)}


def _gather_ranks(tokens: dict[str, Any] | None) -> dict[str, Any] | None:
    """With several processes: every rank's token arrays concatenated (all ranks must call this)."""
    import numpy as np

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return tokens
    if torch.distributed.get_world_size() == 1:
        return tokens
    everyone: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(everyone, tokens)
    present = [t for t in everyone if t is not None]
    if not present:
        return None
    keys = set.intersection(*(set(t) for t in present))
    return {k: np.concatenate([t[k] for t in present]) for k in sorted(keys)}


# ---- one step's rows -----------------------------------------------------------------------------------
def summarize(tokens: dict[str, Any], step: int, objectives: list[str]) -> list[dict[str, Any]]:
    """The dynamics rows of one step (one per objective) from its per-token arrays.

    `tokens` holds 1-D arrays "logp", optionally "entropy" and "sum_p2", and "w:<objective>" weights; and per
    micro-batch counts "_underflow" / "_replies" (replies whose dft-sentence weight is exactly 0 / all replies).
    """
    n_bins = len(schema.BIN_LABELS)
    tokens = dict(tokens)
    underflow, replies = tokens.pop("_underflow", None), tokens.pop("_replies", None)
    underflow_share = float(underflow.sum() / replies.sum()) if replies is not None and replies.sum() > 0 else None
    frame = pl.DataFrame(tokens).with_columns(pl.col("logp").exp().alias("p"))
    frame = frame.with_columns(schema.bin_index(pl.col("p")).alias("bin"))
    has_g2 = "sum_p2" in frame.columns
    if has_g2:   # float rounding can push 1 - 2p + sum_p2 a hair below 0 when p ~ 1
        frame = frame.with_columns((1 - 2 * pl.col("p") + pl.col("sum_p2")).clip(lower_bound=0).alias("g2"))

    # one pass for the whole-batch statistics, one grouped pass for the per-bin ones
    def weight_stats(name: str) -> list[pl.Expr]:
        w = pl.col(f"w:{name}")
        rl = w * (-pl.col("logp")).exp()   # w / p, from log p so that a tiny p stays finite
        return [
            w.mean().alias(f"{name}|{schema.WEIGHT_MEAN}"),
            *(w.quantile(q, "linear").alias(f"{name}|{col}") for q, col in schema.WEIGHT_QUANTILE.items()),
            rl.mean().alias(f"{name}|{schema.RL_WEIGHT_MEAN}"),
            *(rl.quantile(q, "linear").alias(f"{name}|{col}") for q, col in schema.RL_WEIGHT_QUANTILE.items()),
        ]

    whole = frame.select(
        pl.col("entropy").mean().alias(schema.MEAN_ENTROPY) if "entropy" in frame.columns
        else pl.lit(None, pl.Float64).alias(schema.MEAN_ENTROPY),
        (-pl.col("logp")).mean().alias(schema.SFT_LOSS),
        (-pl.col("p") * pl.col("logp")).mean().alias(schema.DFT_LOSS),
        *(e for name in objectives for e in weight_stats(name)),
    ).row(0, named=True)
    by_bin = frame.group_by("bin").agg(
        pl.len().alias("count"),
        *((pl.col(f"w:{name}").pow(2) * pl.col("g2")).sum().alias(name) for name in objectives if has_g2),
    )
    bins = {row["bin"]: row for row in by_bin.iter_rows(named=True)}
    step_level = {
        schema.STEP: step,
        schema.N_TOKENS: frame.height,
        schema.P_BIN_COUNTS: [bins[b]["count"] if b in bins else 0 for b in range(n_bins)],
        schema.MEAN_ENTROPY: whole[schema.MEAN_ENTROPY],
        schema.SFT_LOSS: whole[schema.SFT_LOSS],
        schema.DFT_LOSS: whole[schema.DFT_LOSS],
        schema.GRAD_NORM: None,
        schema.LEARNING_RATE: None,
        schema.SENTENCE_WEIGHT_UNDERFLOW: underflow_share,
    }
    rows = []
    for name in objectives:
        stats = {key.split("|", 1)[1]: value for key, value in whole.items() if key.startswith(f"{name}|")}
        shares = None
        if has_g2:
            per_bin = [bins[b][name] if b in bins else 0.0 for b in range(n_bins)]
            total = sum(per_bin)
            shares = [s / total for s in per_bin] if total > 0 else None
        rows.append({**step_level, schema.OBJECTIVE: name, **stats, schema.GRAD_SQ_SHARE: shares})
    return rows


def write_dynamics_part(out_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Rows of logged steps as one Parquet part of the dynamics table (atomically); nothing when empty."""
    if not rows:
        return
    steps = [row[schema.STEP] for row in rows]
    frame = pl.DataFrame(rows, schema=schema.dynamics_schema())
    write_parquet_atomic(frame, Path(out_dir) / Run.dynamics_part_name(min(steps), max(steps)))


def forget_dynamics_after(out_dir: Path, step: int) -> None:
    """Drop rows logged after `step`: a run resumed from its state at `step` logs those steps again."""
    for part in sorted(Path(out_dir).glob(DYNAMICS_PART_GLOB)):
        frame = pl.read_parquet(part, glob=False)
        if frame.is_empty() or cast(int, frame[schema.STEP].max()) <= step:
            continue
        kept = frame.filter(pl.col(schema.STEP) <= step)
        part.unlink()
        write_dynamics_part(out_dir, kept.to_dicts())
