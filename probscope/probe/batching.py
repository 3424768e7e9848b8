"""One shard of a plan -> one DataFrame of rows (schema.TOKEN_COLUMNS), batch by batch.

    job = ShardJob(model, head, tokenizer, run, step, fixed_batch, chunk_size, use_compile)
    frame, budget = probe_shard(job, shard, budget)

Batches are consecutive examples of the length-sorted shard, right-padded; the body runs once per batch
(head.hidden_states) and only the positions that predict a target go through the LM head. The target
at `position` is predicted from the hidden state at `position - 1`, so row (example, position) holds
p(input_ids[position] | input_ids[:position]). On out-of-memory the batch is halved and retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from probscope import devices, schema
from probscope.errors import ProbscopeError
from probscope.probe import head as lm_head
from probscope.probe.head import LMHead
from probscope.probe.planning import Item

if TYPE_CHECKING:
    import polars as pl
    from transformers import PreTrainedModel


@dataclass
class ShardJob:
    """What every batch of one probe shares: the model and its head, the row labels, how to batch."""

    model: PreTrainedModel
    head: LMHead
    tokenizer: Any                # a transformers tokenizer for the readable token column, or None
    run: str
    step: int
    fixed_batch: bool             # the budget counts examples (batch_size given), else padded tokens
    chunk_size: int | None        # target tokens per LM-head block (None: from the vocabulary and device)
    use_compile: bool
    token_strings: dict[int, str | None] = field(default_factory=dict)   # token id -> text, filled as met


def probe_shard(job: ShardJob, shard: Sequence[Item], budget: int) -> tuple[pl.DataFrame, int]:
    """Rows of one shard as a DataFrame, plus the batch budget to continue with (halved after an OOM)."""
    import polars as pl  # here, not above: probe_batch runs where polars is not installed (bench/gpu.py)

    columns: list[dict[str, np.ndarray]] = []
    start = 0
    while start < len(shard):
        batch = next_batch(shard, start, budget, job.fixed_batch)
        try:
            columns.append(probe_batch(job, batch))
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise ProbscopeError(f"out of memory on a single example (id {batch[0].example.example_id}, "
                                     f"{len(batch[0].input_ids)} tokens); lower max_length or use a bigger "
                                     "device") from None
            budget = max(1, (len(batch) if job.fixed_batch else budget) // 2)
            devices.empty_cache()
            continue
        start += len(batch)
    merged = {name: np.concatenate([c[name] for c in columns]) for name in schema.TOKEN_COLUMNS}
    # string columns are numpy object arrays; one holding only None (no tokenizer, no roles) would reach
    # polars as an Object column it cannot cast, so those travel as plain lists
    lists = {name: values.tolist() if values.dtype == object else values for name, values in merged.items()}
    return pl.DataFrame(lists, schema=schema.token_schema()), budget


def next_batch(shard: Sequence[Item], start: int, budget: int, fixed_batch: bool) -> Sequence[Item]:
    """Consecutive examples (shards are length-sorted, so little padding): `budget` examples when the
    batch size is fixed, else as many as fit `budget` padded tokens (at least one)."""
    if fixed_batch:
        return shard[start:start + budget]
    end = start + 1
    while end < len(shard) and (end + 1 - start) * len(shard[end].input_ids) <= budget:
        end += 1
    return shard[start:end]


def probe_batch(job: ShardJob, batch: Sequence[Item]) -> dict[str, np.ndarray]:
    """One batch's rows as numpy columns (schema.TOKEN_COLUMNS)."""
    device = job.head.weight.device
    width = max(len(it.input_ids) for it in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    attention = torch.zeros(len(batch), width, dtype=torch.long)
    for row, it in enumerate(batch):   # right padding: causal attention keeps real tokens unaffected
        ids[row, :len(it.input_ids)] = torch.tensor(it.input_ids)
        attention[row, :len(it.input_ids)] = 1
    ids, attention = ids.to(device), attention.to(device)
    # through the module, so that whoever replaces hidden_states (a test) replaces it for the head check too
    hidden = lm_head.hidden_states(job.model, ids, attention)
    rows = torch.tensor(np.concatenate([np.full(len(it.positions), r) for r, it in enumerate(batch)]), device=device)
    positions_np = np.concatenate([it.positions for it in batch])
    positions = torch.tensor(positions_np, device=device)
    targets = ids[rows, positions]
    stats = job.head.statistics(hidden[rows, positions - 1], targets, job.chunk_size, job.use_compile)
    stop_on_non_finite(stats, batch, positions_np, job.step)

    token_ids = targets.cpu().numpy()
    example_ids = np.concatenate([np.full(len(it.positions), it.example.example_id, dtype=object) for it in batch])
    roles = np.concatenate([
        np.asarray(it.example.roles, dtype=object)[it.positions] if it.example.roles is not None
        else np.full(len(it.positions), None, dtype=object) for it in batch
    ])
    cpu = {k: v.cpu().numpy() for k, v in stats.items()}
    tokens = [token_string(job.tokenizer, int(t), job.token_strings) for t in token_ids]
    return {
        schema.RUN: np.full(len(token_ids), job.run, dtype=object),
        schema.STEP: np.full(len(token_ids), job.step, dtype=np.int64),
        schema.EXAMPLE_ID: example_ids,
        schema.POSITION: positions_np.astype(np.int32),
        schema.TOKEN_ID: token_ids.astype(np.int32),
        schema.TOKEN: np.asarray(tokens, dtype=object),
        schema.P: np.exp(cpu["logp"].astype(np.float64)),   # float64: tiny p do not underflow to 0
        schema.LOGP: cpu["logp"].astype(np.float64),
        schema.ENTROPY: cpu["entropy"].astype(np.float32),
        schema.RANK: cpu["rank"].astype(np.int32),
        schema.IS_TOP1: cpu["is_top1"],
        schema.SUM_P2: cpu["sum_p2"].astype(np.float32),
        schema.ROLE: roles,
    }


def stop_on_non_finite(stats: dict[str, torch.Tensor], batch: Sequence[Item], positions: np.ndarray,
                       step: int) -> None:
    """NaN or inf logits make entropy non-finite (and log p NaN): stop, naming the first such example."""
    bad = ~torch.isfinite(stats["entropy"]) | torch.isnan(stats["logp"])
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        owner = np.repeat(np.arange(len(batch)), [len(it.positions) for it in batch])[first]
        raise ProbscopeError(f"example {batch[owner].example.example_id} (position {positions[first]}) at step {step}: "
                             "the model produced NaN or inf logits; the checkpoint is broken (nothing marked finished)")


def token_string(tokenizer: Any, token_id: int, cache: dict[int, str | None]) -> str | None:
    """Readable text of one token: byte-level BPE 'Ġthe' -> ' the'; SentencePiece '▁the' -> ' the'."""
    if token_id not in cache:
        if tokenizer is None:
            cache[token_id] = None
        else:
            piece = tokenizer.convert_ids_to_tokens(token_id)
            text = None if piece is None else tokenizer.convert_tokens_to_string([piece])
            # SentencePiece decoders drop the word-start space of a sequence's first piece; keep it.
            if text is not None and piece.startswith("\u2581") and not text.startswith(" "):
                text = " " + text
            cache[token_id] = text
    return cache[token_id]
