"""The tokens a checkpoint would have put at each reply position of one example: its k most likely next tokens,
with the probability and rank of the token the data has there (llm-transparency-tool's "top tokens").

    ids = example_inputs(run, step=10, dataset="train")["3f2a…"]   # the probed examples' token ids, by example id
    table = top_alternatives(load_causal_lm(run.checkpoint(10)), ids, positions=[12, 13], k=10)
    # position, target_id, target_p, target_rank, rank (1..k), token_id, p

The probe's own path (probe/head.py): the decoder body once over the example, the LM head on the chosen
positions only; the target's rank counts the logits strictly above its own, as the probe's rank does.
"""

from __future__ import annotations

import dataclasses
import glob
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import torch

from probscope import runs
from probscope.errors import ProbscopeError
from probscope.probe.head import LMHead, hidden_states

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from probscope.data import DataFormat

POSITION, TARGET_ID, TARGET_P, TARGET_RANK, RANK, TOKEN_ID, P = (
    "position", "target_id", "target_p", "target_rank", "rank", "token_id", "p")


def top_alternatives(model: PreTrainedModel, input_ids: Sequence[int], positions: Sequence[int],
                     k: int = 10) -> pl.DataFrame:
    """At each of `positions` (indices into `input_ids`, each predicted from the tokens before it): the `k` most
    likely tokens, most likely first (RANK 1..k), and the probability and rank of the token `input_ids` holds
    there. One forward pass of the decoder body; [len(positions), vocab] logits at once."""
    if k < 1:
        raise ProbscopeError(f"k={k}: ask for at least one alternative")
    bad = [position for position in positions if not 1 <= position < len(input_ids)]
    if bad:
        raise ProbscopeError(f"position {bad[0]}: outside 1..{len(input_ids) - 1}, the positions of an example of "
                             f"{len(input_ids)} tokens that a token before them predicts")
    head = LMHead.of(model)
    device = head.weight.device
    ids = torch.tensor([list(input_ids)], device=device)
    at = torch.tensor(list(positions), device=device)
    with torch.inference_mode():
        hidden = hidden_states(model, ids, None)[0, at - 1]
        logits = head.logits(hidden)
        logp = logits.log_softmax(-1)
        targets = ids[0, at]
        target_logit = logits.gather(1, targets[:, None])
        target_rank = (logits > target_logit).sum(1) + 1
        top = logp.topk(min(k, head.vocab_size), dim=-1)
    n, kept = top.indices.shape
    return pl.DataFrame({
        POSITION: at.repeat_interleave(kept).cpu().numpy(),
        TARGET_ID: targets.repeat_interleave(kept).cpu().numpy(),
        TARGET_P: logp.gather(1, targets[:, None])[:, 0].exp().double().repeat_interleave(kept).cpu().numpy(),
        TARGET_RANK: target_rank.repeat_interleave(kept).cpu().numpy(),
        RANK: torch.arange(1, kept + 1).repeat(n).numpy(),
        TOKEN_ID: top.indices.reshape(-1).cpu().numpy(),
        P: top.values.reshape(-1).double().exp().cpu().numpy(),
    }).with_columns(pl.col(POSITION, TARGET_ID, TARGET_RANK, RANK, TOKEN_ID).cast(pl.Int64))


def dataset_file(run: runs.Run, dataset: str) -> str:
    """The data file a probe of `run` on `dataset` read: the run's training data for DEFAULT_PROBE_DATASET,
    else the file named after the dataset beside it (how `probscope probe --data FILE` names a dataset)."""
    manifest = run.read_manifest()
    if not manifest.data:
        raise ProbscopeError(f"{run.manifest_path}: names no training data ('data'), so the probed examples cannot "
                             "be read again")
    training = Path(manifest.data)
    if dataset == runs.DEFAULT_PROBE_DATASET:
        return str(training)
    beside = sorted(path for path in training.parent.glob(f"{glob.escape(dataset)}.*") if path.is_file())
    if not beside:
        raise ProbscopeError(f"dataset {dataset!r}: no data file named {dataset}.* beside {training}, so its "
                             "examples cannot be read again")
    return str(beside[0])


def run_data_format(run: runs.Run) -> DataFormat:
    """The data format the run trained with (its manifest's config), as the probe read the data with."""
    from probscope.data import DataFormat

    recorded = run.read_manifest().config.get("data_format") or {}
    known = {one.name for one in dataclasses.fields(DataFormat)}
    fmt = DataFormat(**{key: value for key, value in recorded.items() if key in known})
    tokenization = run.read_manifest().config.get("tokenization")
    return dataclasses.replace(fmt, tokenization=tokenization) if fmt.tokenization is None and tokenization else fmt


def example_inputs(run: runs.Run, step: int, dataset: str) -> dict[str, list[int]]:
    """Every example of `dataset` as the probe of `run` at `step` encoded it (the data file, the run's data format,
    the checkpoint's tokenizer, as probe_run chooses them): example id -> input ids."""
    from probscope.data import encode_file
    from probscope.models import load_tokenizer
    from probscope.probe.run import tokenizer_source

    tokenizer = load_tokenizer(tokenizer_source(run.checkpoint(step), run.read_manifest()))
    examples = encode_file(dataset_file(run, dataset), tokenizer, run_data_format(run))
    return {example.example_id: example.input_ids for example in examples}
