"""What a probe will do before it does it: examples checked, cut to the context, sorted, split into shards.

    plan = make_plan(examples, context=2048, overflow="truncate", shard_size=256, vocab_size=V, out_dir=out)
    plan.shards[i]            # list[Item], length-sorted; shard i is probed by rank i % world_size
    fingerprint(examples, run, step, shard_size, max_length, overflow)   # what decides the rows

Examples are sorted by length (then index) so that consecutive examples batch with little padding, and
cut into shards of `shard_size`: the same shards for one process and for N processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from probscope import schema
from probscope.errors import ProbscopeError

if TYPE_CHECKING:
    from probscope.data import EncodedExample

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """One example as probed: its ids cut to the context and its target positions (all >= 1)."""

    example: EncodedExample
    input_ids: list[int]
    positions: np.ndarray


@dataclass
class Plan:
    shards: list[list[Item]]
    examples: int
    tokens: int
    truncated: int
    dropped: int
    no_targets: int

    def first_with_context(self) -> Item | None:
        """An example with at least two tokens (one to predict from, one predicted), if any."""
        return next((it for shard in self.shards for it in shard if len(it.input_ids) >= 2), None)


def make_plan(examples: Sequence[EncodedExample], context: int | None, overflow: str, shard_size: int,
              vocab_size: int, out_dir: Path) -> Plan:
    """Examples checked, cut to `context` (or dropped: `overflow`), length-sorted, in shards of `shard_size`."""
    items: list[tuple[int, int, Item]] = []
    truncated = dropped = no_targets = 0
    for index, ex in enumerate(examples):
        validate(ex, index, vocab_size)
        ids, mask = list(ex.input_ids), ex.target_mask
        if context and len(ids) > context:
            if overflow == "drop":
                dropped += 1
                continue
            truncated += 1
            ids = ids[:context]
        positions = np.flatnonzero(np.asarray(mask[:len(ids)], dtype=bool))
        positions = positions[positions >= 1]   # position 0 has no context to be predicted from
        no_targets += len(positions) == 0
        items.append((len(ids), index, Item(ex, ids, positions)))
    tokens = sum(len(it.positions) for _, _, it in items)
    if tokens == 0:
        raise ProbscopeError(f"{len(examples)} examples hold no target token to probe (for {out_dir}); "
                             "check the data's reply/completion columns")
    ordered = [it for _, _, it in sorted(items, key=lambda x: (x[0], x[1]))]
    shards = [ordered[i:i + shard_size] for i in range(0, len(ordered), shard_size)]
    return Plan(shards, len(ordered), tokens, truncated, dropped, no_targets)


def validate(ex: EncodedExample, index: int, vocab_size: int) -> None:
    where = f"example {index} (id {ex.example_id})"
    if len(ex.target_mask) != len(ex.input_ids):
        raise ProbscopeError(f"{where}: target_mask has {len(ex.target_mask)} entries for {len(ex.input_ids)} tokens")
    if ex.roles is not None and len(ex.roles) != len(ex.input_ids):
        raise ProbscopeError(f"{where}: roles has {len(ex.roles)} entries for {len(ex.input_ids)} tokens")
    if ex.input_ids and not 0 <= min(ex.input_ids) <= max(ex.input_ids) < vocab_size:
        raise ProbscopeError(f"{where}: token ids outside the model's vocabulary (size {vocab_size}); "
                             "the tokenizer does not match the model")


def warn_about(plan: Plan, context: int | None) -> None:
    if plan.truncated:
        logger.warning(f"{plan.truncated} examples longer than the model's context ({context} tokens) were truncated: "
                       "their tail tokens are not probed (overflow='drop' leaves them out instead)")
    if plan.dropped:
        logger.warning(f"{plan.dropped} examples longer than the model's context ({context} tokens) were dropped")
    if plan.no_targets:
        logger.warning(f"{plan.no_targets} examples have no target token (nothing to probe in them)")


def fingerprint(examples: Sequence[EncodedExample], run: str, step: int, shard_size: int, max_length: int | None,
                overflow: str) -> str:
    """Hash of everything that decides the rows: a resumed or repeated run must have the same one."""
    digest = hashlib.sha256(json.dumps([schema.SCHEMA_VERSION, run, step, shard_size, max_length, overflow]).encode())
    for ex in examples:
        digest.update(ex.example_id.encode() + b"\0")
        digest.update(np.asarray(ex.input_ids, dtype=np.int64).tobytes())
        digest.update(np.packbits(np.asarray(ex.target_mask, dtype=bool)).tobytes())
        digest.update(json.dumps(ex.roles).encode())
    return digest.hexdigest()[:16]
