"""`probscope-bench train`: training step time of SFT vs DFT, and with vs without the GradientWeightCallback.

    probscope-bench train            # or: python -m probscope.perf train [--reps 5] [--steps 20] [--device cuda]

Workload: a tiny Llama shaped like the built-in model (hidden 96, 4 layers, MLP 384, 4 heads, tied
embeddings, vocabulary 530, float32), batch 32 x 64 tokens of random pre-tokenized data (the first 16
tokens are prompt), logging every 10 steps. Configurations, each its own trainer and model:
  sft, dft                  probscope.training.trainer.ObjectiveSFTTrainer with that objective
  sft+callback              sft plus a GradientWeightCallback recording every logging step
  sft+callback-every-step   sft plus one recording every step (the worst case)
  trl-sft                   TRL's own SFTTrainer (loss_type="nll"), for the cost of our trainer itself
They run interleaved, `reps` times each, in an order rotated every repetition. A step time is the wall
time between consecutive optimizer-step starts (data, forward, backward, optimizer, logging, callback
work and writes), averaged over `steps` steps after 2 warm-up steps (steps 3..22 by default, two of
them logging steps). Each ratio is the median over repetitions of the ratio within a repetition
(paired, so that load from other processes, which swings 3-5x here, cancels); step_ms are medians.
Targets: dft_over_sft <= 1.05 and callback_over_plain <= 1.05. probscope-bench prints the
results as JSON on the last line.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES
from probscope.testing import random_sft_dataset, tiny_llama, word_tokenizer

# The built-in model's shape (train/builtin-base.yaml) and the benchmark batch
BUILTIN_SHAPE = dict(hidden_size=96, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                     num_key_value_heads=4, tie_word_embeddings=True)
VOCAB, BATCH, LENGTH, PROMPT, LOGGING_STEPS = 530, 32, 64, 16, 10
WARMUP_STEPS = 2


def _step_clock():
    """A TrainerCallback recording when each optimizer step begins (so one interval = one whole step)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.starts: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.starts = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.starts.append(time.perf_counter())

        def mean_step_seconds(self) -> float:
            timed = self.starts[WARMUP_STEPS:]
            return (timed[-1] - timed[0]) / (len(timed) - 1)

    return StepClock()


def _trainer(kind: str, workdir: Path, steps: int, tokenizer, dataset, device: str):
    """One configuration: (trainer, clock). kind: sft, dft, sft+callback, sft+callback-every-step, trl-sft."""
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from probscope.training.callbacks import GradientWeightCallback
    from probscope.training.trainer import ObjectiveSFTTrainer

    args = SFTConfig(
        output_dir=str(workdir / "trainer" / kind), max_steps=steps + WARMUP_STEPS + 1,
        per_device_train_batch_size=BATCH, learning_rate=1e-3, logging_steps=LOGGING_STEPS, save_strategy="no",
        report_to=[], use_cpu=device == "cpu", disable_tqdm=True, seed=0, activation_checkpointing=False, bf16=False,
    )
    clock = _step_clock()
    callbacks = [clock]
    if kind == "sft+callback":
        callbacks.append(GradientWeightCallback(workdir / "dynamics" / kind))
    elif kind == "sft+callback-every-step":
        callbacks.append(GradientWeightCallback(workdir / "dynamics" / kind, every=1))
    model = tiny_llama(tokenizer, VOCAB, **BUILTIN_SHAPE)
    common = dict(args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks)
    if kind == "trl-sft":
        trainer = SFTTrainer(model, **common)
    else:
        trainer = ObjectiveSFTTrainer(model, objective="dft" if kind == "dft" else "sft", **common)
    trainer.remove_callback(PrinterCallback)
    return trainer, clock


KINDS = ("sft", "dft", "sft+callback", "sft+callback-every-step", "trl-sft")


def train_benchmark(reps: int = 5, steps: int = 20, device: str = "cpu") -> dict:
    """Ratios of step times (median over repetitions of same-repetition ratios) and median step times."""
    from tqdm import tqdm

    with tempfile.TemporaryDirectory(prefix="probscope-bench-train-") as tmp:
        workdir = Path(tmp)
        tokenizer = word_tokenizer(workdir / "tokenizer")
        dataset = random_sft_dataset(BATCH * (steps + WARMUP_STEPS + 1), VOCAB, (LENGTH, LENGTH), (PROMPT, PROMPT))
        trainers = {kind: _trainer(kind, workdir, steps, tokenizer, dataset, device) for kind in KINDS}
        seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
        with tqdm(total=reps * len(KINDS), desc="train benchmark", unit="run") as bar:
            for rep in range(reps):
                # interleaved, in an order rotated every repetition, so drift and load bursts on a shared
                # machine hit every configuration alike and no configuration always runs first
                for kind in KINDS[rep % len(KINDS):] + KINDS[:rep % len(KINDS)]:
                    trainer, clock = trainers[kind]
                    trainer.train()
                    seconds[kind].append(clock.mean_step_seconds())
                    bar.update()

    def paired_ratio(kind: str, baseline: str) -> float:
        """Median over repetitions of kind / baseline measured in the same repetition."""
        return statistics.median(a / b for a, b in zip(seconds[kind], seconds[baseline], strict=False))

    return {
        "dft_over_sft": paired_ratio("dft", "sft"),
        "callback_over_plain": paired_ratio("sft+callback", "sft"),
        "callback_every_step_over_plain": paired_ratio("sft+callback-every-step", "sft"),
        "objective_sft_over_trl_sft": paired_ratio("sft", "trl-sft"),
        "step_ms": {kind: round(1000 * statistics.median(values), 2) for kind, values in seconds.items()},
        "reps": reps, "steps": steps, "batch": f"{BATCH}x{LENGTH}", "logging_steps": LOGGING_STEPS, "device": device,
    }


@dataclass
class TrainBenchOptions:
    reps: int = field(default=5, metadata={"help": "interleaved repetitions per configuration"})
    steps: int = field(default=20, metadata={"help": "timed optimizer steps per repetition"})
    device: str = field(default="cpu", metadata={"help": "where to train (float32)", "choices": ("cpu", "cuda")})


@BENCHES.register("train")
def main(argv: list[str] | None = None) -> dict:
    opts = parse_options(TrainBenchOptions, argv, prog="probscope-bench train", description=__doc__.split("\n")[0])
    start = time.time()
    result = train_benchmark(opts.reps, opts.steps, opts.device)
    for kind, ms in result["step_ms"].items():
        print(f"{kind:>24}: {ms:8.2f} ms/step (median of {opts.reps} repetitions)")
    print(f"DFT/SFT {result['dft_over_sft']:.3f} (target <= 1.05), callback/plain {result['callback_over_plain']:.3f} "
          f"(target <= 1.05), callback every step/plain {result['callback_every_step_over_plain']:.3f}, "
          f"ObjectiveSFTTrainer sft / TRL SFTTrainer {result['objective_sft_over_trl_sft']:.3f}; "
          f"{time.time() - start:.0f}s")
    return result


if __name__ == "__main__":
    print(json.dumps(main()))
