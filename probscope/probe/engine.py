"""The probing engine: a causal LM + encoded examples -> Parquet shards with one row per target token.

    from probscope.probe import probe_checkpoint, read_probe_table
    summary = probe_checkpoint("runs/sft/checkpoints/step-000100", examples, out_dir, run="sft", step=100)
    tokens = read_probe_table(out_dir)            # columns: probscope.schema.TOKEN_COLUMNS

How it works, top to bottom:
- plan: examples are checked, cut to the model's context, sorted by length and split into shards of
  `shard_size` examples. Shard i belongs to rank i % world_size and is written as
  part-<rank>-<i>.parquet, so one process and N processes produce the same shards.
- per shard: length-bucketed batches run the model body once (right-padded, `inference_mode`); only
  the positions that predict a target go through the LM head, via `token_statistics` (chunked, fp32).
  The target at `position` is predicted from the hidden state at `position - 1`, so row (example,
  position) holds p(input_ids[position] | input_ids[:position]).
- crash safety: every shard is written atomically and skipped when it already exists; the completion
  marker (runs.PROBE_DONE) is written last, by rank 0 after all ranks finished. A directory without the
  marker is unfinished; a rerun on a finished directory does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

from probscope import runs, schema
from probscope.errors import ProbscopeError
from probscope.probe.stats import COMPILE_MIN_ELEMENTS, token_statistics
from probscope.probe.table import part_name, shard_files

if TYPE_CHECKING:
    from probscope.data import EncodedExample

logger = logging.getLogger(__name__)

# Rows of a probe table are written in shards of this many examples: the unit of resumption.
DEFAULT_SHARD_SIZE = 256
# Padded tokens per batch when batch_size="auto"; halved on out-of-memory.
AUTO_BATCH_TOKENS = {"cpu": 8192, "cuda": 65536, "mps": 16384}

@dataclass
class ProbeSummary:
    """What a finished probe directory holds; stored as the completion marker's JSON."""

    out_dir: str
    run: str
    step: int
    model: str | None
    examples: int                 # examples probed (after dropping over-long ones)
    tokens: int                   # rows written (target tokens)
    shards: int
    truncated: int = 0            # examples cut to the model's context
    dropped: int = 0              # examples longer than the context, left out (overflow="drop")
    no_targets: int = 0           # examples without any target token (nothing to probe)
    world_size: int = 1
    seconds: float = 0.0          # wall time of the run that finished the directory
    schema_version: int = schema.SCHEMA_VERSION
    fingerprint: str = ""
    already_done: bool = field(default=False, compare=False)

    def line(self) -> str:
        verb = "already probed" if self.already_done else "probed"
        rate = f", {self.tokens / self.seconds:,.0f} tok/s" if self.seconds and not self.already_done else ""
        notes = [f"{n} {what}" for n, what in ((self.truncated, "truncated"), (self.dropped, "dropped (too long)"),
                                               (self.no_targets, "without targets")) if n]
        extra = f" ({', '.join(notes)})" if notes else ""
        return (f"{verb} {self.tokens:,} tokens of {self.examples:,} examples{extra} for {self.run} step {self.step}"
                f" in {self.seconds:.1f} s{rate} -> {self.out_dir}")


@dataclass(frozen=True)
class _Item:
    """One example as probed: its ids cut to the context and its target positions (all >= 1)."""

    example: EncodedExample
    input_ids: list[int]
    positions: np.ndarray


@dataclass
class _Plan:
    shards: list[list[_Item]]
    examples: int
    tokens: int
    truncated: int
    dropped: int
    no_targets: int


# ---- public API ----------------------------------------------------------------------------------------
def probe_examples(
    model,
    tokenizer,
    examples: list[EncodedExample],
    out_dir: str | os.PathLike,
    *,
    run: str,
    step: int,
    batch_size: int | str = "auto",
    device: str = "auto",
    dtype: str | torch.dtype | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    max_length: int | None = None,
    overflow: str = "truncate",
    chunk_size: int | None = None,
    compile: bool | str = "auto",
    progress: bool = True,
    model_path: str | None = None,
) -> ProbeSummary:
    """Probe `model` on `examples` into `out_dir` (resumable; a no-op when already finished).

    max_length: longest sequence fed to the model (default: the model's max_position_embeddings);
    overflow: "truncate" (cut longer examples, warn with the count) or "drop" (leave them out, warn);
    the same words as probscope.data.DataFormat.overflow.
    batch_size: examples per batch, or "auto" (a padded-token budget per device, halved on OOM).
    Under torchrun / accelerate launch (WORLD_SIZE > 1) each rank probes its share of the shards.
    """
    out_dir = Path(out_dir)
    if overflow not in ("truncate", "drop"):
        raise ProbscopeError(f"overflow={overflow!r}: use 'truncate' or 'drop'")
    if not examples:
        raise ProbscopeError(f"no examples to probe for {out_dir} (the dataset is empty)")
    fingerprint = _fingerprint(examples, run, step, shard_size, max_length, overflow)
    done = _finished_summary(out_dir, fingerprint)
    if done is not None:
        return done

    started = time.perf_counter()
    rank, world, created_group = _init_distributed()
    try:
        device = _resolve_device(device, local_rank=int(os.environ.get("LOCAL_RANK", 0)) if world > 1 else None)
        model = model.to(device) if dtype is None else model.to(device=device, dtype=_torch_dtype(dtype))
        model.eval()
        head = _LMHead.of(model)
        context = max_length or getattr(model.config, "max_position_embeddings", None)
        plan = _plan(examples, context, overflow, shard_size, head.vocab_size, out_dir)
        _warn_about(plan, context)
        _claim(out_dir, fingerprint)
        _check_head_matches_model(model, head, plan)
        use_compile = (compile if compile != "auto" else plan.tokens * head.vocab_size >= COMPILE_MIN_ELEMENTS)
        my_shards = [i for i in range(len(plan.shards)) if i % world == rank]
        budget = batch_size if isinstance(batch_size, int) else AUTO_BATCH_TOKENS.get(device.type, 8192)
        token_strings: dict[int, str | None] = {}
        bar = tqdm(total=sum(len(it.positions) for i in my_shards for it in plan.shards[i]), unit="tok",
                   unit_scale=True, desc=f"probe {run} step {step}", disable=not progress or rank != 0)
        with bar, torch.inference_mode():
            for index in my_shards:
                shard = plan.shards[index]
                if not _shard_done(out_dir, index):
                    frame, budget = _probe_shard(model, head, tokenizer, shard, run, step, budget,
                                                 isinstance(batch_size, int), chunk_size, use_compile, token_strings)
                    runs.write_parquet_atomic(frame, out_dir / part_name(rank, index))
                bar.update(sum(len(it.positions) for it in shard))
        _barrier(world)
        if rank == 0:
            _mark_finished(ProbeSummary(
                out_dir=str(out_dir), run=run, step=step,
                model=model_path or getattr(model, "name_or_path", None) or None,
                examples=plan.examples, tokens=_rows_written(out_dir, len(plan.shards)), shards=len(plan.shards),
                truncated=plan.truncated, dropped=plan.dropped, no_targets=plan.no_targets, world_size=world,
                seconds=round(time.perf_counter() - started, 3), fingerprint=fingerprint,
            ))
        _barrier(world)   # every rank returns only once the directory is marked finished
    finally:
        if created_group:
            torch.distributed.destroy_process_group()
    return _read_marker(out_dir)


def probe_checkpoint(model_path: str | os.PathLike, examples: list[EncodedExample], out_dir: str | os.PathLike,
                     *, run: str, step: int, tokenizer=None, **options) -> ProbeSummary:
    """Load a Hugging Face causal LM (+ its tokenizer unless given) from a directory and probe it."""
    fingerprint = _fingerprint(examples, run, step, options.get("shard_size", DEFAULT_SHARD_SIZE),
                               options.get("max_length"), options.get("overflow", "truncate"))
    if examples and (done := _finished_summary(Path(out_dir), fingerprint)) is not None:
        return done   # skip loading the weights
    model = load_model(model_path, options.get("dtype"))
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model_path)
    return probe_examples(model, tokenizer, examples, out_dir, run=run, step=step, model_path=str(model_path), **options)


def require_model_dir(path: str | os.PathLike) -> Path:
    """`path` as a Path if it holds a saved model, else a one-line error that says what to pass instead."""
    path = Path(path)
    if not path.is_dir():
        raise ProbscopeError(f"{path}: not a model directory (it does not exist)")
    if (path / runs.MANIFEST).is_file():
        steps = runs.Run(path).checkpoint_steps()
        hint = f"e.g. {runs.Run(path).checkpoint(steps[-1])}" if steps else "it has no finished checkpoint yet"
        raise ProbscopeError(f"{path}: a run directory, not a model; pass one of its checkpoints ({hint})")
    if not (path / "config.json").is_file():
        raise ProbscopeError(f"{path}: not a model directory (no config.json); pass a checkpoint saved with save_pretrained")
    return path


def load_model(path: str | os.PathLike, dtype: str | torch.dtype | None = None):
    """AutoModelForCausalLM from a save_pretrained directory, with a one-line error if it is not one."""
    from transformers import AutoModelForCausalLM

    path = require_model_dir(path)
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=_torch_dtype(dtype) if dtype else "auto")
    except (OSError, ValueError, KeyError) as e:
        raise ProbscopeError(f"{path}: cannot load a causal language model ({str(e).splitlines()[0]})") from None


def load_tokenizer(path: str | os.PathLike):
    from transformers import AutoTokenizer

    path = require_model_dir(path)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ProbscopeError(f"{path}: cannot load a tokenizer ({str(e).splitlines()[0]})") from None


# ---- the model: body once, LM head on target positions only -------------------------------------------
@dataclass(frozen=True)
class _LMHead:
    weight: torch.Tensor
    bias: torch.Tensor | None
    logit_scale: float
    softcap: float | None

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    @staticmethod
    def of(model) -> _LMHead:
        """The output projection plus the output transforms known in HF configs (Gemma softcap, Cohere
        and Granite scales); anything else is caught by _check_head_matches_model."""
        linear = model.get_output_embeddings()
        if not isinstance(linear, torch.nn.Linear):
            raise ProbscopeError(f"{type(model).__name__}: output layer is {type(linear).__name__}, not a linear LM head")
        config = model.config
        scale = float(getattr(config, "logit_scale", None) or 1.0) / float(getattr(config, "logits_scaling", None) or 1.0)
        return _LMHead(linear.weight, linear.bias, scale, getattr(config, "final_logit_softcapping", None))

    def statistics(self, hidden, targets, chunk_size, use_compile):
        return token_statistics(hidden, self.weight, targets, bias=self.bias, chunk_size=chunk_size,
                                logit_scale=self.logit_scale, softcap=self.softcap, compile=use_compile)


def _hidden_states(model, input_ids, attention_mask):
    """Final hidden states (after the last norm) of the decoder body, without computing any logits."""
    body = model.get_decoder()
    out = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def _check_head_matches_model(model, head: _LMHead, plan: _Plan) -> None:
    """Compare our head with the model's own forward on a few positions of one example, so a model whose
    logits go through an unknown transform is refused instead of silently misprobed."""
    item = next((it for shard in plan.shards for it in shard if len(it.input_ids) >= 2), None)
    if item is None:
        return
    device = head.weight.device
    ids = torch.tensor([item.input_ids[:16]], device=device)
    with torch.inference_mode():
        reference = model(input_ids=ids, use_cache=False).logits[0, :-1].float().log_softmax(-1)
        hidden = _hidden_states(model, ids, None)[0, :-1]
        ours = head.statistics(hidden, ids[0, 1:], None, False)["logp"]
    if not bool(torch.isfinite(reference).all()):
        return   # a broken checkpoint: the main pass stops on it, naming the example
    gap = (ours - reference.gather(1, ids[0, 1:, None])[:, 0]).abs().max().item()
    tolerance = 1e-3 if head.weight.dtype == torch.float32 else 0.25
    if not gap <= tolerance:   # also catches NaN
        raise ProbscopeError(f"{type(model).__name__}: its logits are not the LM head applied to the final hidden "
                             f"state (log p differs by {gap:.3g}); this output transform is not supported by the probe")


# ---- plan: context cut, length sort, shards -----------------------------------------------------------
def _plan(examples, context, overflow, shard_size, vocab_size, out_dir) -> _Plan:
    items, truncated, dropped, no_targets = [], 0, 0, 0
    for index, ex in enumerate(examples):
        _validate(ex, index, vocab_size)
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
        items.append((len(ids), index, _Item(ex, ids, positions)))
    tokens = sum(len(it.positions) for _, _, it in items)
    if tokens == 0:
        raise ProbscopeError(f"{len(examples)} examples hold no target token to probe (for {out_dir}); "
                             "check the data's reply/completion columns")
    ordered = [it for _, _, it in sorted(items, key=lambda x: (x[0], x[1]))]
    shards = [ordered[i:i + shard_size] for i in range(0, len(ordered), shard_size)]
    return _Plan(shards, len(ordered), tokens, truncated, dropped, no_targets)


def _validate(ex: EncodedExample, index: int, vocab_size: int) -> None:
    where = f"example {index} (id {ex.example_id})"
    if len(ex.target_mask) != len(ex.input_ids):
        raise ProbscopeError(f"{where}: target_mask has {len(ex.target_mask)} entries for {len(ex.input_ids)} tokens")
    if ex.roles is not None and len(ex.roles) != len(ex.input_ids):
        raise ProbscopeError(f"{where}: roles has {len(ex.roles)} entries for {len(ex.input_ids)} tokens")
    if ex.input_ids and not 0 <= min(ex.input_ids) <= max(ex.input_ids) < vocab_size:
        raise ProbscopeError(f"{where}: token ids outside the model's vocabulary (size {vocab_size}); "
                             "the tokenizer does not match the model")


def _warn_about(plan: _Plan, context) -> None:
    if plan.truncated:
        logger.warning(f"{plan.truncated} examples longer than the model's context ({context} tokens) were truncated: "
                       "their tail tokens are not probed (overflow='drop' leaves them out instead)")
    if plan.dropped:
        logger.warning(f"{plan.dropped} examples longer than the model's context ({context} tokens) were dropped")
    if plan.no_targets:
        logger.warning(f"{plan.no_targets} examples have no target token (nothing to probe in them)")


def _fingerprint(examples, run, step, shard_size, max_length, overflow) -> str:
    """Hash of everything that decides the rows: a resumed or repeated run must have the same one."""
    digest = hashlib.sha256(json.dumps([schema.SCHEMA_VERSION, run, step, shard_size, max_length, overflow]).encode())
    for ex in examples:
        digest.update(ex.example_id.encode() + b"\0")
        digest.update(np.asarray(ex.input_ids, dtype=np.int64).tobytes())
        digest.update(np.packbits(np.asarray(ex.target_mask, dtype=bool)).tobytes())
        digest.update(json.dumps(ex.roles).encode())
    return digest.hexdigest()[:16]


# ---- one shard ----------------------------------------------------------------------------------------
def _probe_shard(model, head, tokenizer, shard, run, step, budget, fixed_batch, chunk_size, use_compile, token_strings):
    """Rows of one shard as a DataFrame, plus the batch budget to continue with (halved after an OOM)."""
    columns: list[dict] = []
    start = 0
    while start < len(shard):
        batch = _next_batch(shard, start, budget, fixed_batch)
        try:
            columns.append(_probe_batch(model, head, tokenizer, batch, run, step, chunk_size, use_compile, token_strings))
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise ProbscopeError(f"out of memory on a single example (id {batch[0].example.example_id}, "
                                     f"{len(batch[0].input_ids)} tokens); lower max_length or use a bigger device") from None
            budget = max(1, (len(batch) if fixed_batch else budget) // 2)
            _empty_cache()
            continue
        start += len(batch)
    merged = {name: np.concatenate([c[name] for c in columns]) for name in schema.TOKEN_COLUMNS}
    # string columns are numpy object arrays; one holding only None (no tokenizer, no roles) would reach
    # polars as an Object column it cannot cast, so those travel as plain lists
    merged = {name: values.tolist() if values.dtype == object else values for name, values in merged.items()}
    return pl.DataFrame(merged, schema=schema.token_schema()), budget


def _next_batch(shard, start, budget, fixed_batch):
    """Consecutive examples (shards are length-sorted, so little padding): `budget` examples when the
    batch size is fixed, else as many as fit `budget` padded tokens (at least one)."""
    if fixed_batch:
        return shard[start:start + budget]
    end = start + 1
    while end < len(shard) and (end + 1 - start) * len(shard[end].input_ids) <= budget:
        end += 1
    return shard[start:end]


def _probe_batch(model, head, tokenizer, batch, run, step, chunk_size, use_compile, token_strings) -> dict:
    device = head.weight.device
    width = max(len(it.input_ids) for it in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    attention = torch.zeros(len(batch), width, dtype=torch.long)
    for row, it in enumerate(batch):   # right padding: causal attention keeps real tokens unaffected
        ids[row, :len(it.input_ids)] = torch.tensor(it.input_ids)
        attention[row, :len(it.input_ids)] = 1
    ids, attention = ids.to(device), attention.to(device)
    hidden = _hidden_states(model, ids, attention)
    rows = torch.tensor(np.concatenate([np.full(len(it.positions), r) for r, it in enumerate(batch)]), device=device)
    positions_np = np.concatenate([it.positions for it in batch])
    positions = torch.tensor(positions_np, device=device)
    targets = ids[rows, positions]
    stats = head.statistics(hidden[rows, positions - 1], targets, chunk_size, use_compile)
    _stop_on_non_finite(stats, batch, positions_np, step)

    token_ids = targets.cpu().numpy()
    example_ids = np.concatenate([np.full(len(it.positions), it.example.example_id, dtype=object) for it in batch])
    roles = np.concatenate([
        np.asarray(it.example.roles, dtype=object)[it.positions] if it.example.roles is not None
        else np.full(len(it.positions), None, dtype=object) for it in batch
    ])
    cpu = {k: v.cpu().numpy() for k, v in stats.items()}
    return {
        schema.RUN: np.full(len(token_ids), run, dtype=object),
        schema.STEP: np.full(len(token_ids), step, dtype=np.int64),
        schema.EXAMPLE_ID: example_ids,
        schema.POSITION: positions_np.astype(np.int32),
        schema.TOKEN_ID: token_ids.astype(np.int32),
        schema.TOKEN: np.asarray([_token_string(tokenizer, int(t), token_strings) for t in token_ids], dtype=object),
        schema.P: np.exp(cpu["logp"].astype(np.float64)),   # float64: tiny p do not underflow to 0
        schema.LOGP: cpu["logp"].astype(np.float64),
        schema.ENTROPY: cpu["entropy"].astype(np.float32),
        schema.RANK: cpu["rank"].astype(np.int32),
        schema.IS_TOP1: cpu["is_top1"],
        schema.SUM_P2: cpu["sum_p2"].astype(np.float32),
        schema.ROLE: roles,
    }


def _stop_on_non_finite(stats, batch, positions, step) -> None:
    """NaN or inf logits make entropy non-finite (and log p NaN): stop, naming the first such example."""
    bad = ~torch.isfinite(stats["entropy"]) | torch.isnan(stats["logp"])
    if bool(bad.any()):
        first = int(bad.nonzero()[0, 0])
        owner = np.repeat(np.arange(len(batch)), [len(it.positions) for it in batch])[first]
        raise ProbscopeError(f"example {batch[owner].example.example_id} (position {positions[first]}) at step {step}: "
                             "the model produced NaN or inf logits; the checkpoint is broken (nothing marked finished)")


def _token_string(tokenizer, token_id: int, cache: dict[int, str | None]) -> str | None:
    """Readable text of one token: byte-level BPE 'Ġthe' -> ' the'; SentencePiece '▁the' -> ' the'."""
    if token_id not in cache:
        if tokenizer is None:
            cache[token_id] = None
        else:
            piece = tokenizer.convert_ids_to_tokens(token_id)
            text = None if piece is None else tokenizer.convert_tokens_to_string([piece])
            # SentencePiece decoders drop the word-start space of a sequence's first piece; keep it.
            cache[token_id] = " " + text if text is not None and piece.startswith("\u2581") and not text.startswith(" ") else text
    return cache[token_id]


# ---- directory state: marker, plan, shards --------------------------------------------------------------
def _mark_finished(summary: ProbeSummary) -> None:
    fields = {k: v for k, v in asdict(summary).items() if k not in ("out_dir", "already_done")}
    runs.write_text_atomic(Path(summary.out_dir) / runs.PROBE_DONE, json.dumps(fields, indent=2))


def _read_marker(out_dir: Path) -> ProbeSummary:
    return ProbeSummary(out_dir=str(out_dir), **json.loads((out_dir / runs.PROBE_DONE).read_text()))


def _finished_summary(out_dir: Path, fingerprint: str) -> ProbeSummary | None:
    """The summary of a finished directory probed with the same inputs; None if unfinished."""
    if not (out_dir / runs.PROBE_DONE).is_file():
        return None
    summary = _read_marker(out_dir)
    if summary.fingerprint != fingerprint:
        raise ProbscopeError(f"{out_dir}: already holds a finished probe of other examples or options; "
                             "delete it or choose another output directory")
    summary.already_done = True
    return summary


def _claim(out_dir: Path, fingerprint: str) -> None:
    """Record the inputs of this probe; refuse to resume a directory started with different ones."""
    plan_file = out_dir / runs.PROBE_PLAN
    if plan_file.is_file():
        started = json.loads(plan_file.read_text()).get("fingerprint")
        if started != fingerprint:
            raise ProbscopeError(f"{out_dir}: holds an unfinished probe of other examples or options; "
                                 "delete it or choose another output directory")
        return
    runs.write_text_atomic(plan_file, json.dumps({"fingerprint": fingerprint}))


def _shard_done(out_dir: Path, index: int) -> bool:
    return bool(shard_files(out_dir, index))


def _rows_written(out_dir: Path, n_shards: int) -> int:
    """Rows over all shards, from the Parquet footers; fails if a shard is missing."""
    import pyarrow.parquet as pq

    total = 0
    for index in range(n_shards):
        found = shard_files(out_dir, index)
        if not found:
            raise ProbscopeError(f"{out_dir}: shard {index} is missing after all ranks finished; rerun to complete it")
        total += pq.read_metadata(found[0]).num_rows
    return total


# ---- devices and processes ------------------------------------------------------------------------------
def _resolve_device(device: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", (local_rank or 0) % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _torch_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ProbscopeError(f"dtype={dtype!r}: use float32, bfloat16 or float16")
    return resolved


def _init_distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether we created the process group) from torchrun/accelerate's environment.

    The engine's only collective is a barrier, so a group it creates uses gloo on every device (nccl
    would refuse two ranks sharing one GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend="gloo")
    return dist.get_rank(), dist.get_world_size(), created


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
