"""Training dynamics of RL runs (DPO, GRPO, PPO) into the run's dynamics/ table, like SFT's gradient-weight rows.

    from probscope.training.rl_callbacks import RLDynamicsCallback
    dynamics = RLDynamicsCallback(run.dynamics_dir, "grpo")       # dpo: n_pairs=len(pairs) fills that column
    trainer = GRPODynamicsTrainer(..., callbacks=[dynamics], dynamics=dynamics)   # probscope.training.rl

One row per logged optimizer step, schema.DYNAMICS_COLUMNS, with `objective` = the trainer ("dpo", "grpo", "ppo"):
  * the token statistics (n_tokens, p_bin_counts: the Figure-2 histogram, mean_entropy, sft_loss = mean
    −log p, dft_loss = mean −p·log p) of the tokens the policy trained on since the previous log: the
    sampled completions (GRPO) or the chosen replies (DPO), as the policy scored them in its loss forward;
  * what TRL logged for those steps: reward_mean / reward_std of the verifier and frac_reward_zero_std, the
    share of groups without signal (GRPO, PPO), kl to the reference (GRPO with beta > 0, PPO with kl_coef > 0),
    value_loss (PPO), reward_margin (DPO's β·(chosen − rejected) log-ratio) and reward_accuracy (DPO's share
    of pairs ranked right), grad_norm, learning_rate; n_pairs, DPO's pair count, on every row.
The objective-weight columns stay null: an RL loss is not a per-token weight on a fixed target.
The trainer feeds tokens with `record_tokens`; rows are flushed as atomic Parquet parts every
`flush_every` logged steps and at train end. With several processes each rank's tokens are gathered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import polars as pl
from transformers import TrainerCallback

from probscope import schema
from probscope.training.callbacks import forget_dynamics_after, write_dynamics_part

# TRL's log key -> dynamics column (TRL averages each over the steps since the previous log)
LOGGED = {
    "reward": schema.REWARD_MEAN, "reward_std": schema.REWARD_STD, "kl": schema.KL,
    "frac_reward_zero_std": schema.FRAC_REWARD_ZERO_STD, "value_loss": schema.VALUE_LOSS,
    "rewards/margins": schema.REWARD_MARGIN, "rewards/accuracies": schema.REWARD_ACCURACY,
    "grad_norm": schema.GRAD_NORM, "learning_rate": schema.LEARNING_RATE,
}


class RLDynamicsCallback(TrainerCallback):
    def __init__(self, out_dir: str | Path, trainer: str, flush_every: int = 5, n_pairs: int | None = None):
        self.out_dir = Path(out_dir)
        self.trainer = trainer
        self.n_pairs = n_pairs
        self.flush_every = flush_every
        self._logp: list[Any] = []
        self._entropy: list[Any] = []
        self._rows: list[dict[str, Any]] = []

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            forget_dynamics_after(self.out_dir, state.global_step)

    def record_tokens(self, logp, entropy=None) -> None:
        """1-D tensors of the trained tokens' log p (and entropy) from one micro-batch's loss forward."""
        self._logp.append(logp.detach().float().cpu().numpy())
        if entropy is not None:
            self._entropy.append(entropy.detach().float().cpu().numpy())

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if not any(key in logs for key in LOGGED if key not in ("grad_norm", "learning_rate")):
            return   # the end-of-training summary, or an eval log
        logp, entropy = _gather(self._logp), _gather(self._entropy)
        self._logp, self._entropy = [], []
        if state.is_world_process_zero:
            row = dynamics_row(state.global_step, self.trainer, logp, entropy, logs)
            self._rows.append({**row, schema.N_PAIRS: self.n_pairs})
            if len(self._rows) >= self.flush_every:
                self.flush()

    def on_train_end(self, args, state, control, **kwargs):
        self.flush()

    def flush(self) -> None:
        write_dynamics_part(self.out_dir, self._rows)
        self._rows = []


def dynamics_row(step: int, trainer: str, logp, entropy, logs: dict[str, float]) -> dict[str, Any]:
    """One dynamics row: token statistics of `logp` (numpy, natural log) plus the logged RL metrics."""
    import numpy as np


    row: dict[str, Any] = dict.fromkeys(schema.DYNAMICS_COLUMNS)
    row.update({schema.STEP: step, schema.OBJECTIVE: trainer, schema.N_TOKENS: int(logp.size)})
    row.update({column: float(logs[key]) for key, column in LOGGED.items() if key in logs})
    if logp.size:
        frame = pl.DataFrame({"logp": logp.astype(np.float64)}).with_columns(pl.col("logp").exp().alias("p"))
        counts = frame.select(schema.bin_index(pl.col("p")).alias("bin"))["bin"].value_counts()
        by_bin = dict(zip(counts["bin"].to_list(), counts["count"].to_list(), strict=False))
        row[schema.P_BIN_COUNTS] = [by_bin.get(b, 0) for b in range(len(schema.BIN_LABELS))]
        row[schema.SFT_LOSS] = -cast(float, frame["logp"].mean())
        row[schema.DFT_LOSS] = cast(float, (-frame["p"] * frame["logp"]).mean())
        row[schema.MEAN_ENTROPY] = float(entropy.mean()) if entropy is not None and entropy.size else None
    return row


def _gather(chunks: list[Any]):
    """The micro-batches' arrays joined, and with several processes every rank's (all ranks call this)."""
    import numpy as np
    import torch

    local = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed and torch.distributed.get_world_size() > 1:
        everyone: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(everyone, local)
        return np.concatenate(everyone)
    return local
