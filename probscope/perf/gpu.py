"""`probscope-bench gpu`: the probe and generation at the paper's model size on one GPU (about 10 minutes on an H200).

    python -m probscope.perf.gpu                        # Qwen2.5-1.5B shape, random weights, bf16, ~1M target tokens
    python -m probscope.perf.gpu --config /path/to/config.json --tokens 2000000
    python -m probscope.perf.gpu --tiny --device cpu    # the same code at toy size (the test runs this)

Needs torch and transformers only (no polars, no TRL: the GPU machines lack them): it drives the probe's own
batch function (probscope.probe.batching.probe_batch, the rows it would write as numpy columns) and the decoding
layer (probscope.decoding) directly. The model is built from a config (the numbers of Qwen2.5-Math-1.5B's are
carried here; --config takes another) with random weights: timing needs the shapes, not the values.

Probe, on examples of --prompt-tokens prompt + --reply-tokens reply tokens (the replies are the targets), in the
probe's own batches (AUTO_BATCH_TOKENS padded tokens, length-sorted), CUDA-synchronized, after a warm-up:
  probe_s           every batch through probe_batch: body once, LM head on the targets, statistics, host copies
  body_s            the same batches through the decoder body alone (head.hidden_states)
  head_matmul_s     the bare LM-head matmul of every target's hidden state ([targets, H] x [H, V] in bf16)
  ratio_to_floor    probe_s / (body_s + head_matmul_s); target <= 1.15
Generation, on --prompts random prompts of MATH-500-like lengths, --new-tokens each (random weights never stop):
  plain_samples_s   transformers' generate, dynamic cache, the same batches
  fast_samples_s    probscope.decoding.generate_ids (static cache, compiled), after one compiling batch
  greedy_equal      the two agree token for token on greedy replies
Last line: JSON with these, tokens_per_s and peak_gpu_gb.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES

# Qwen2.5-Math-1.5B's config.json (the numbers that set the cost), carried so the script needs no download
QWEN25_15B = {
    "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
    "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True, "hidden_act": "silu",
}
TINY = {**QWEN25_15B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 512}


def build_model(config: dict, device, dtype):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(config)
    cfg = AutoConfig.for_model(values.pop("model_type"), **values)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.eval()


def examples(n_tokens: int, prompt: int, reply: int, vocab: int, seed: int = 0) -> list:
    """Items of the probe's plan: random ids, lengths around prompt + reply, the reply's positions as targets."""
    import numpy as np

    from probscope.data.encoding import EncodedExample
    from probscope.probe.planning import Item

    rng = random.Random(seed)
    items: list[Item] = []
    total = 0
    while total < n_tokens:
        p, r = rng.randint(prompt // 2, prompt * 3 // 2), rng.randint(reply // 2, reply * 3 // 2)
        ids = [rng.randrange(vocab) for _ in range(p + r)]
        example = EncodedExample(f"ex{len(items)}", ids, [i >= p for i in range(p + r)], None)
        items.append(Item(example, ids, np.arange(p, p + r)))
        total += r
    return sorted(items, key=lambda it: len(it.input_ids))   # the plan's length sort


def synchronized(device) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def time_probe(model, items: list, device) -> dict:
    import torch

    from probscope.probe import head as lm_head
    from probscope.probe.batching import ShardJob, next_batch, probe_batch
    from probscope.probe.config import AUTO_BATCH_TOKENS

    head = lm_head.LMHead.of(model)
    job = ShardJob(model, head, None, "bench", 0, fixed_batch=False, chunk_size=None, use_compile=device.type == "cuda")
    budget = AUTO_BATCH_TOKENS.get(device.type, AUTO_BATCH_TOKENS["cpu"])
    batches, start = [], 0
    while start < len(items):
        batches.append(next_batch(items, start, budget, False))
        start += len(batches[-1])

    def padded(batch):   # as probe_batch pads: right, with the mask
        width = max(len(it.input_ids) for it in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        attention = torch.zeros(len(batch), width, dtype=torch.long)
        for row, it in enumerate(batch):
            ids[row, :len(it.input_ids)] = torch.tensor(it.input_ids)
            attention[row, :len(it.input_ids)] = 1
        return ids.to(device), attention.to(device)

    def probe():
        for batch in batches:
            probe_batch(job, batch)

    def body():
        for batch in batches:
            lm_head.hidden_states(model, *padded(batch))

    targets = sum(len(it.positions) for it in items)
    hidden = torch.randn(min(targets, 65536), head.weight.shape[1], device=device, dtype=head.weight.dtype)

    def matmul():
        for first in range(0, targets, len(hidden)):
            (hidden[:min(len(hidden), targets - first)] @ head.weight.T).max()   # logits consumed, not kept

    with torch.inference_mode():
        if device.type == "cuda":   # compiles, allocator pools, kernels chosen
            for warm_up in (probe, body, matmul):
                warm_up()
        seconds = {}
        for name, function in (("probe_s", probe), ("body_s", body), ("head_matmul_s", matmul)):
            began = synchronized(device)
            function()
            seconds[name] = round(synchronized(device) - began, 3)
    floor = seconds["body_s"] + seconds["head_matmul_s"]
    return {**seconds, "target_tokens": targets, "batches": len(batches),
            "tokens_per_s": round(targets / seconds["probe_s"]), "ratio_to_floor": round(seconds["probe_s"] / floor, 3),
            "ratio_to_head_matmul": round(seconds["probe_s"] / seconds["head_matmul_s"], 2),
            "ratio_to_body": round(seconds["probe_s"] / seconds["body_s"], 3)}


def time_generation(model, prompts: int, new_tokens: int, batch_size: int, vocab: int, device) -> dict:
    from probscope.decoding import Decoding, generate_ids

    rng = random.Random(1)
    inputs = [[rng.randrange(1, vocab) for _ in range(rng.randint(60, 300))] for _ in range(prompts)]  # MATH-500-like
    greedy = Decoding(k=1, temperature=0.0, max_new_tokens=new_tokens)

    def run(fast: bool) -> tuple[float, list]:
        start = synchronized(device)
        out = generate_ids(model, inputs, greedy, pad_id=0, stop_ids=set(), batch_size=batch_size, fast=fast)
        return synchronized(device) - start, out

    plain_s, plain = run(False)
    first_s, _ = run(True)            # compiles the decoding step for these shapes
    fast_s, fast = run(True)
    return {"prompts": prompts, "new_tokens": new_tokens, "plain_samples_s": round(prompts / plain_s, 2),
            "fast_samples_s": round(prompts / fast_s, 2), "fast_first_run_s": round(first_s, 1),
            "fast_speedup": round(plain_s / fast_s, 2), "greedy_equal": plain == fast}


@dataclass
class GpuBenchOptions:
    config: str | None = field(default=None, metadata={
        "help": "a model config.json (default: Qwen2.5-Math-1.5B's numbers, carried here)"})
    tiny: bool = field(default=False, metadata={"help": "a toy model and workload (the CPU test)"})
    device: str = field(default="cuda", metadata={"help": "torch device"})
    tokens: int = field(default=1_000_000, metadata={"help": "target tokens to probe"})
    prompt_tokens: int = field(default=200, metadata={"help": "mean prompt length"})
    reply_tokens: int = field(default=400, metadata={"help": "mean reply length"})
    prompts: int = field(default=128, metadata={"help": "generation prompts"})
    new_tokens: int = field(default=512, metadata={"help": "tokens generated per prompt"})
    batch_size: int = field(default=64, metadata={"help": "generation prompts per batch"})


@BENCHES.register("gpu")
def main(argv: list[str] | None = None) -> dict:
    args = parse_options(GpuBenchOptions, argv, prog="probscope-bench gpu", description=__doc__.split("\n")[0])
    import torch

    device = torch.device(args.device)
    if args.config:
        with open(args.config) as f:
            config = {k: v for k, v in json.load(f).items() if k in {*QWEN25_15B, "model_type"}}
    else:
        config = TINY if args.tiny else QWEN25_15B
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = build_model(config, device, dtype)
    print(f"{config['model_type']} model, {model.num_parameters() / 1e9:.2f}B parameters, {dtype} on {device}",
          flush=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    items = examples(args.tokens, args.prompt_tokens, args.reply_tokens, config["vocab_size"])
    probe = time_probe(model, items, device)
    print(f"probe: {json.dumps(probe)}", flush=True)
    generation = time_generation(model, args.prompts, args.new_tokens, args.batch_size, config["vocab_size"], device)
    print(f"generation: {json.dumps(generation)}", flush=True)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {**probe, **generation, "peak_gpu_gb": round(peak, 2) if peak is not None else None,
            "parameters": model.num_parameters(), "device": str(device), "dtype": str(dtype)}


if __name__ == "__main__":
    print(json.dumps(main()))
