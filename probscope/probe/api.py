"""The probe's public API: a causal LM + encoded examples -> Parquet shards with one row per target token.

    from probscope.probe import probe_checkpoint, read_probe_table
    summary = probe_checkpoint("runs/sft/checkpoints/step-000100", examples, out_dir, run="sft", step=100)
    tokens = read_probe_table(out_dir)            # columns: probscope.schema.TOKEN_COLUMNS

Top to bottom: the plan (planning.py: examples checked, cut to the context, length-sorted, shards of
`shard_size`; shard i belongs to rank i % world_size), the model's head checked against its own forward
(head.py), each unfinished shard probed batch by batch (batching.py) and written atomically as
part-<rank>-<i>.parquet (its summary tables just before it: summaries.py), and last, by rank 0 once every
rank finished, the merged summaries and the completion marker listing every shard and summary (state.py;
readers check the table against it: table.py).
A directory without the marker is unfinished and resumes; a rerun on a finished one does nothing.
Options and their defaults: probscope.probe.config.ProbeOptions.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from tqdm.auto import tqdm

from probscope import devices
from probscope.errors import ProbscopeError
from probscope.models import load_causal_lm, load_tokenizer, require_model_dir
from probscope.probe import state, summaries
from probscope.probe.batching import ShardJob, probe_shard
from probscope.probe.config import AUTO_BATCH_TOKENS, ProbeOptions
from probscope.probe.head import LMHead, check_head_matches_model
from probscope.probe.planning import fingerprint, make_plan, warn_about
from probscope.probe.state import ProbeSummary
from probscope.probe.table import part_name, write_shard
from probscope.token_stats import COMPILE_MIN_ELEMENTS

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from probscope.data import EncodedExample


def probe_examples(model: PreTrainedModel, tokenizer: Any, examples: list[EncodedExample],
                   out_dir: str | os.PathLike, *, run: str, step: int, model_path: str | None = None,
                   **options: Any) -> ProbeSummary:
    """Probe `model` on `examples` into `out_dir` (resumable; a no-op when already finished).

    options: the fields of ProbeOptions (batch_size, device, dtype, shard_size, chunk_size, compile,
    max_length, overflow, progress, summary_bins), with its defaults. tokenizer: for the readable token column (None:
    null tokens). Under torchrun / accelerate launch (WORLD_SIZE > 1) each rank probes its share of the shards.
    """
    return _probe(model, tokenizer, examples, Path(out_dir), run, step, ProbeOptions(**options), model_path)


def probe_checkpoint(model_path: str | os.PathLike, examples: list[EncodedExample], out_dir: str | os.PathLike,
                     *, run: str, step: int, tokenizer: Any = None, base_model: str | None = None,
                     trust_remote_code: bool = False, **options: Any) -> ProbeSummary:
    """Load a Hugging Face causal LM (+ its tokenizer unless given) from a directory and probe it.

    A LoRA adapter checkpoint is merged into its base on load (base_model, else the adapter's own
    base_model_name_or_path); trust_remote_code: run the model's own Python code (off: only code shipped
    with transformers runs). See probscope.models.load_causal_lm.
    """
    opts = ProbeOptions(**options)
    state.check_output_path(Path(out_dir))
    done = state.finished_summary(Path(out_dir), _fingerprint(examples, run, step, opts, Path(out_dir)))
    if done is not None:
        return done   # skip loading the weights
    devices.resolve_device(opts.device)   # a device this machine lacks fails before the weights load
    path = require_model_dir(model_path)
    model = load_causal_lm(path, opts.dtype, trust_remote_code=trust_remote_code, base_model=base_model)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path, trust_remote_code=trust_remote_code)
    return _probe(model, tokenizer, examples, Path(out_dir), run, step, opts, str(model_path))


def _fingerprint(examples: list[EncodedExample], run: str, step: int, opts: ProbeOptions, out_dir: Path) -> str:
    """planning.fingerprint of this probe's inputs; refuses an empty example list first."""
    if not examples:
        raise ProbscopeError(f"no examples to probe for {out_dir} (the dataset is empty)")
    return fingerprint(examples, run, step, opts.shard_size, opts.max_length, opts.overflow)


def _probe(model: PreTrainedModel, tokenizer: Any, examples: list[EncodedExample], out_dir: Path, run: str, step: int,
           opts: ProbeOptions, model_path: str | None) -> ProbeSummary:
    key = _fingerprint(examples, run, step, opts, out_dir)
    state.check_output_path(out_dir)
    done = state.finished_summary(out_dir, key)
    if done is not None:
        return done
    started = time.perf_counter()
    with devices.process_group() as (rank, world):
        device = devices.resolve_device(opts.device)
        # transformers declares PreTrainedModel.to through functools.wraps, which loses `self` for mypy
        model = model.to(device=device, dtype=devices.parse_dtype(opts.dtype))   # type: ignore[call-arg]
        model.eval()
        head = LMHead.of(model)
        context = opts.max_length or getattr(model.config, "max_position_embeddings", None)
        plan = make_plan(examples, context, opts.overflow, opts.shard_size, head.vocab_size, out_dir)
        warn_about(plan, context)
        state.claim(out_dir, key, alone=world == 1)
        first = plan.first_with_context()
        check_head_matches_model(model, head, first.input_ids if first is not None else None)
        use_compile = opts.compile if isinstance(opts.compile, bool) else (   # else "auto"
            plan.tokens * head.vocab_size >= COMPILE_MIN_ELEMENTS)
        my_shards = [i for i in range(len(plan.shards)) if i % world == rank]
        fixed_batch = opts.batch_size != "auto"
        auto_budget = AUTO_BATCH_TOKENS.get(device.type, AUTO_BATCH_TOKENS["cpu"])
        budget = opts.batch_size if isinstance(opts.batch_size, int) else auto_budget   # else "auto"
        job = ShardJob(model, head, tokenizer, run, step, fixed_batch, opts.chunk_size, use_compile)
        edges = summaries.cell_edges(cast("tuple[float, ...]", opts.summary_bins))   # parsed by __post_init__
        summary_seconds = 0.0
        bar = tqdm(total=sum(len(it.positions) for i in my_shards for it in plan.shards[i]), unit="tok",
                   unit_scale=True, desc=f"probe {run} step {step}", disable=not opts.progress or rank != 0)
        with bar, torch.inference_mode():
            for index in my_shards:
                shard = plan.shards[index]
                if not state.shard_done(out_dir, index):
                    frame, budget = probe_shard(job, shard, budget)
                    # the shard's summaries first: a written shard always has them
                    summary_seconds += summaries.write_shard_summaries(frame, out_dir, index, edges)
                    write_shard(frame, out_dir / part_name(rank, index))
                bar.update(sum(len(it.positions) for it in shard))
        devices.barrier()
        if rank == 0:
            files = state.shard_records(out_dir, len(plan.shards))
            merge_started = time.perf_counter()
            record = summaries.merge_shard_summaries(out_dir, [out_dir / f["name"] for f in files], edges)
            state.mark_finished(ProbeSummary(
                out_dir=str(out_dir), run=run, step=step,
                model=model_path or getattr(model, "name_or_path", None) or None,
                examples=plan.examples, tokens=sum(f["rows"] for f in files), shards=len(plan.shards),
                truncated=plan.truncated, dropped=plan.dropped, no_targets=plan.no_targets, world_size=world,
                seconds=round(time.perf_counter() - started, 3), fingerprint=key, files=files, summaries=record,
                summary_seconds=round(summary_seconds + time.perf_counter() - merge_started, 3),
            ))
            summaries.remove_shard_summaries(out_dir)
        devices.barrier()   # every rank returns only once the directory is marked finished
    return state.read_marker(out_dir)
