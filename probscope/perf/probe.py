"""`probscope-bench probe`: the probing engine against the naive full-logits computation, side by side.

    probscope-bench probe                       # or: python -m probscope.perf probe [--examples 12] [--reps 3]

Workload: a tiny-body Llama (hidden 64, 2 layers) with the Qwen2.5 vocabulary size (151,936) and a
fixed set of SFT-shaped sequences (prompt 32-96 tokens, reply 48-160; the reply tokens are the
targets), in batches of `--batch` sequences sorted by length.

Variants, timed interleaved in this process (`--reps` times each, median reported):
  engine        probscope.probe.probe_examples, compiled statistics (compile time reported apart), the
                whole path: body, target selection, LM head + statistics, Parquet shards, marker
  engine_eager  the same with the eager statistics (what small jobs use)
  naive         what a careful user writes with plain transformers: full fp32 logits for the batch,
                log_softmax, gather, entropy and sum p^2 from the full distribution, rank by counting,
                then the reply positions selected
  matmul        the bare LM-head matmul on the target positions only (same chunks): the physical floor

Peak memory: each of engine and naive runs once more in a fresh subprocess that builds the same
workload, (for the engine) compiles the statistics on a dummy block, then resets the kernel's peak-RSS
counter (/proc/self/clear_refs, VmHWM) and reports VmHWM minus the RSS just before the pass. A fresh
process is needed because memory freed by one pass stays resident in the allocator and would hide the
next pass's peak; tracemalloc would not see torch's allocations at all. Both figures include the model
body's activations; neither includes the weights. On CUDA, torch.cuda.max_memory_allocated is used.

Last line: JSON with speed_ratio (engine / naive tokens/s), memory_ratio (engine / naive peak),
matmul_ratio (engine time / matmul time), max_abs_diff (engine vs naive over p, logp, entropy,
sum_p2), summary_share (of the engine's probe time, spent writing the summary tables: the marker's
summary_seconds / seconds) and the raw figures. Targets (2 cores): speed >= 2.5, memory <= 0.2, matmul <= 3,
summary_share <= 0.05.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES

VOCAB, HIDDEN, LAYERS = 151_936, 64, 2
PROMPT, REPLY = (32, 96), (48, 160)


def build_workload(examples: int, seed: int = 0):
    """(model, encoded examples) for the benchmark; deterministic for a seed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from probscope.data import EncodedExample

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=4 * HIDDEN, num_hidden_layers=LAYERS,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512)
    model = LlamaForCausalLM(config).eval()
    rng = random.Random(seed)
    encoded = []
    for i in range(examples):
        prompt, reply = rng.randint(*PROMPT), rng.randint(*REPLY)
        ids = [rng.randrange(VOCAB) for _ in range(prompt + reply)]
        encoded.append(EncodedExample(f"bench{i}", ids, [j >= prompt for j in range(prompt + reply)], None))
    return model, encoded


def batches(examples, batch: int, device):
    """Padded batches in the engine's order (sorted by length, then index), with their target positions."""
    import torch

    ordered = sorted(range(len(examples)), key=lambda i: (len(examples[i].input_ids), i))
    for start in range(0, len(ordered), batch):
        group = [examples[i] for i in ordered[start:start + batch]]
        width = max(len(ex.input_ids) for ex in group)
        ids = torch.zeros(len(group), width, dtype=torch.long)
        attention = torch.zeros_like(ids)
        targets = torch.zeros_like(ids, dtype=torch.bool)
        for row, ex in enumerate(group):
            ids[row, :len(ex.input_ids)] = torch.tensor(ex.input_ids)
            attention[row, :len(ex.input_ids)] = 1
            targets[row, 1:len(ex.input_ids)] = torch.tensor(ex.target_mask[1:])
        yield group, ids.to(device), attention.to(device), targets.to(device)


def naive(model, examples, batch: int) -> dict:
    """Columns the plain-transformers way; returns {(example id, position): (p, logp, entropy, rank, sum_p2)}."""
    import torch

    rows = {}
    with torch.inference_mode():
        for group, ids, attention, targets in batches(examples, batch, model.device):
            logits = model(input_ids=ids, attention_mask=attention).logits.float()[:, :-1]   # predicts ids[:, 1:]
            logprobs = logits.log_softmax(-1)
            probs = logprobs.exp()
            next_ids = ids[:, 1:, None]
            target_logp = logprobs.gather(-1, next_ids)[..., 0]
            rank = (logits > logits.gather(-1, next_ids)).sum(-1) + 1
            entropy = -(probs * logprobs).sum(-1)
            sum_p2 = (probs * probs).sum(-1)
            chosen = targets[:, 1:]
            b, s = chosen.nonzero(as_tuple=True)
            values = torch.stack([target_logp.exp(), target_logp, entropy, rank.float(), sum_p2])[:, b, s].T.tolist()
            for row, pos, value in zip(b.tolist(), s.tolist(), values, strict=False):
                rows[(group[row].example_id, pos + 1)] = tuple(value)
            del logits, logprobs, probs
    return rows


def engine(model, examples, batch: int, compile: bool, summary_shares: list[float] | None = None) -> dict:
    """The same columns through probscope.probe.probe_examples (written to and read back from Parquet); appends
    the share of the probe's time spent on its summary tables to `summary_shares`."""
    from probscope import schema
    from probscope.probe import probe_examples, read_probe_table

    with tempfile.TemporaryDirectory() as out:
        summary = probe_examples(model, None, examples, out, run="bench", step=0, batch_size=batch, compile=compile,
                                 progress=False, device=model.device)
        if summary_shares is not None:
            summary_shares.append(summary.summary_seconds / summary.seconds)
        table = read_probe_table(out)
    keys = zip(table[schema.EXAMPLE_ID], table[schema.POSITION], strict=False)
    values = table.select(schema.P, schema.LOGP, schema.ENTROPY, schema.RANK, schema.SUM_P2).rows()
    return dict(zip(keys, values, strict=False))


def target_hidden(model, examples, batch: int):
    """Final hidden states at the positions that predict targets (input to the bare matmul)."""
    import torch

    from probscope.probe.head import hidden_states

    parts = []
    with torch.inference_mode():
        for _, ids, attention, targets in batches(examples, batch, model.device):
            hidden = hidden_states(model, ids, attention)
            b, s = targets.nonzero(as_tuple=True)
            parts.append(hidden[b, s - 1])
    return torch.cat(parts)


def float64_reference(model, examples, batch: int, hidden) -> dict:
    """The columns in float64 from the same fp32 hidden states: the yardstick for both fp32 paths."""
    import torch

    keys, ids = [], []
    for group, _, _, targets in batches(examples, batch, "cpu"):
        for row, pos in zip(*(t.tolist() for t in targets.nonzero(as_tuple=True)), strict=False):
            keys.append((group[row].example_id, pos))
            ids.append(group[row].input_ids[pos])
    rows: dict[tuple, tuple] = {}
    weight, targets = model.lm_head.weight.double(), torch.tensor(ids, device=hidden.device)
    for start in range(0, len(keys), 64):
        z = hidden[start:start + 64].double() @ weight.T
        lp = z.log_softmax(-1)
        t = targets[start:start + 64, None]
        rank = (z > z.gather(1, t)).sum(1) + 1
        cols = torch.stack([lp.gather(1, t)[:, 0].exp(), lp.gather(1, t)[:, 0], -(lp.exp() * lp).sum(1),
                            rank.double(), (lp.exp() ** 2).sum(1)]).T.tolist()
        rows.update(zip(keys[start:start + 64], map(tuple, cols), strict=False))
    return rows


def matmul(weight, hidden, chunk: int) -> None:
    import torch

    with torch.inference_mode():
        for start in range(0, hidden.shape[0], chunk):
            torch.nn.functional.linear(hidden[start:start + chunk], weight)
    if weight.is_cuda:
        torch.cuda.synchronize()


def _max_diff(a: dict, b: dict) -> float:
    """Largest |a - b| over p, logp, entropy and sum_p2 (rank, index 3, is compared exactly apart)."""
    return max(abs(x - y) for key in a for i, (x, y) in enumerate(zip(a[key], b[key], strict=False)) if i != 3)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---- peak memory, in a fresh process -------------------------------------------------------------------
def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def measure_peak(variant: str, examples: int, batch: int, device: str) -> int | None:
    """Peak extra memory (bytes) of one pass of `variant` in this (fresh) process."""
    import torch

    from probscope.token_stats import default_chunk_size, token_statistics

    model, encoded = build_workload(examples)
    model.to(device)
    if variant == "engine":   # compile outside the measured pass, on one block of the same shape and mode
        chunk = default_chunk_size(VOCAB, torch.device(device).type)
        with torch.inference_mode():
            token_statistics(torch.zeros(chunk, HIDDEN, device=device), model.lm_head.weight,
                             torch.zeros(chunk, dtype=torch.long, device=device), compile=True)
    run = ((lambda: engine(model, encoded, batch, True)) if variant == "engine"
           else (lambda: naive(model, encoded, batch)))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        return torch.cuda.max_memory_allocated() - before
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    before = _vm("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")   # resets VmHWM to the current RSS
    run()
    return _vm("VmHWM") - before


def _peak_in_subprocess(variant: str, args: ProbeBenchOptions) -> int | None:
    command = [sys.executable, "-m", "probscope.perf.probe", "--peak-of", variant, "--examples", str(args.examples),
               "--batch", str(args.batch), "--device", args.device]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_bytes"]


# ---- the benchmark ---------------------------------------------------------------------------------------
@dataclass
class ProbeBenchOptions:
    examples: int = field(default=12, metadata={"help": "sequences in the workload"})
    batch: int = field(default=4, metadata={"help": "sequences per batch"})
    reps: int = field(default=3, metadata={"help": "timed repetitions of each variant"})
    device: str = field(default="cpu", metadata={"help": "torch device"})
    peak_of: str | None = field(default=None, metadata={   # the subprocess mode of _peak_in_subprocess
        "choices": ("engine", "naive"), "hidden": True})


@BENCHES.register("probe")
def main(argv: list[str] | None = None) -> dict:
    args = parse_options(ProbeBenchOptions, argv, prog="probscope-bench probe", description=__doc__.split("\n")[0])
    if args.peak_of:
        return {"peak_bytes": measure_peak(args.peak_of, args.examples, args.batch, args.device)}

    import torch

    from probscope.token_stats import default_chunk_size

    model, encoded = build_workload(args.examples)
    model.to(args.device)
    n_targets = sum(sum(ex.target_mask[1:]) for ex in encoded)
    n_tokens = sum(len(ex.input_ids) for ex in encoded)
    print(f"workload: {len(encoded)} sequences, {n_tokens} tokens, {n_targets} targets, vocab {VOCAB}, "
          f"batch {args.batch}, {torch.get_num_threads()} threads, device {args.device}", flush=True)

    compile_s = _timed(lambda: engine(model, encoded, args.batch, True))   # first call compiles
    hidden = target_hidden(model, encoded, args.batch)
    chunk = default_chunk_size(VOCAB, torch.device(args.device).type)
    summary_shares: list[float] = []
    variants = {
        "engine": lambda: engine(model, encoded, args.batch, True, summary_shares),
        "engine_eager": lambda: engine(model, encoded, args.batch, False),
        "naive": lambda: naive(model, encoded, args.batch),
        "matmul": lambda: matmul(model.lm_head.weight, hidden, chunk),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, dict] = {}   # the rows of the variants that compute them (matmul only times the product)
    for rep in range(args.reps):
        for name, fn in variants.items():
            start = time.perf_counter()
            produced = fn()
            times[name].append(time.perf_counter() - start)
            if produced is not None:
                outputs[name] = produced
        print(f"rep {rep + 1}/{args.reps}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}

    exact = float64_reference(model, encoded, args.batch, hidden)
    ours, theirs = outputs["engine"], outputs["naive"]
    assert ours.keys() == theirs.keys() == exact.keys(), "engine, naive and reference rows differ"
    max_abs_diff = _max_diff(ours, theirs)
    errors = {name: _max_diff(outputs[name], exact) for name in ("engine", "engine_eager", "naive")}
    rank_mismatches = sum(ours[key][3] != theirs[key][3] for key in ours)

    peak = {name: _peak_in_subprocess(name, args) for name in ("engine", "naive")}
    for name, value in peak.items():
        print(f"peak memory {name}: " + ("n/a" if value is None else f"{value / 2**20:,.0f} MiB"), flush=True)
    engine_peak, naive_peak = peak["engine"], peak["naive"]
    result = {
        "speed_ratio": round(median["naive"] / median["engine"], 3),
        "memory_ratio": (round(engine_peak / naive_peak, 4)
                         if engine_peak is not None and naive_peak is not None else None),
        "matmul_ratio": round(median["engine"] / median["matmul"], 3),
        "max_abs_diff": max_abs_diff,
        "max_abs_err_vs_float64": errors,
        "rank_mismatches": rank_mismatches,
        "eager_speed_ratio": round(median["naive"] / median["engine_eager"], 3),
        "eager_matmul_ratio": round(median["engine_eager"] / median["matmul"], 3),
        "tokens_per_s": {name: round(n_targets / t) for name, t in median.items()},
        "seconds": {name: round(t, 3) for name, t in median.items()},
        "first_engine_call_s": round(compile_s, 2),
        "summary_share": round(statistics.median(summary_shares), 4),   # of the engine's probe time
        "peak_mib": {name: None if v is None else round(v / 2**20, 1) for name, v in peak.items()},
        "targets": n_targets, "tokens": n_tokens, "vocab": VOCAB, "chunk": chunk,
        "threads": torch.get_num_threads(), "device": args.device,
    }
    print(f"engine {result['tokens_per_s']['engine']:,} tok/s vs naive {result['tokens_per_s']['naive']:,} tok/s "
          f"(x{result['speed_ratio']}), memory x{result['memory_ratio']}, {result['matmul_ratio']}x the bare matmul, "
          f"max |diff| {max_abs_diff:.2e}", flush=True)
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
