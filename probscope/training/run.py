"""Train one run: a recipe (YAML + CLI flags) -> a run directory with scheduled HF checkpoints.

    probscope train train/builtin-sft.yaml                       # the built-in SFT run
    probscope train train/builtin-dft.yaml --max_steps 100       # any key can be overridden as a flag
    accelerate launch train/train.py train/numina-dft.yaml       # multi-GPU, same recipes

A recipe has three parts, all flat keys in one YAML file (probscope.training.config):
  * RunConfig: what to train (run name, trainer, objective, base model or from-scratch config, data);
  * probscope.data.DataFormat: how to read the data (format, columns, max length);
  * the trainer's TRL config: how to optimize (learning_rate, max_steps, per_device_train_batch_size, bf16, ...).
The trainer is TRL's: SFTTrainer with probscope's objectives (`trainer: sft`, also RFT and offline DFT on
rejection-sampled data), DPOTrainer (`trainer: dpo`) or GRPOTrainer (`trainer: grpo`; probscope.training.rl).
Every run has the same layout (probscope.runs): manifest, scheduled checkpoints (LoRA: merged), dynamics/.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from probscope import devices
from probscope.data import DataFormat
from probscope.errors import ProbscopeError, first_line
from probscope.runs import Manifest, Run, code_version
from probscope.training.checkpoints import (
    checkpoint_callback,
    checkpoint_schedule,
    resumable_state,
    save_checkpoint,
)
from probscope.training.config import (
    ONLINE_TRAINERS,
    RunConfig,
    default_resume_every,
    load_recipe_file,
    model_config_settings,
    parse_lora,
    parse_objective_args,
    parse_recipe,
    recipe_configs,
    validate_trainer_numbers,
)

logger = logging.getLogger(__name__)


# ---- building the pieces ------------------------------------------------------------------------------
def load_tokenizer(cfg: RunConfig, fmt: DataFormat):
    """The run's tokenizer (pad = EOS when it has none), carrying the chat template the run trains with."""
    from probscope.data import attach_chat_template
    from probscope.models import load_tokenizer as load

    path = cfg.tokenizer or cfg.model
    if not path:
        raise ProbscopeError("tokenizer is not set: a model trained from scratch needs `tokenizer`")
    tokenizer = load(path)
    attach_chat_template(tokenizer, fmt)   # saved with every checkpoint, so probing renders as training did
    return tokenizer


def build_model(cfg: RunConfig, tokenizer):
    from probscope.models import load_causal_lm

    if cfg.model:
        return load_causal_lm(cfg.model)
    if not cfg.model_config:
        raise ProbscopeError("set either `model` (a starting model) or `model_config` (train from scratch)")
    return new_llama(cfg.model_config, tokenizer)


def new_llama(model_config: str, tokenizer):
    """A LlamaForCausalLM from scratch (settings checked by model_config_settings); its size is logged before
    any memory is allocated."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    settings = model_config_settings(model_config)
    try:
        config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **settings)
        with torch.device("meta"):     # counts parameters without allocating them
            n_params = sum(p.numel() for p in LlamaForCausalLM(config).parameters())
    except (TypeError, ValueError) as e:
        raise ProbscopeError(f"model_config: {str(e).splitlines()[0]}") from None
    logger.info(f"model from scratch: {n_params:,} parameters ({n_params * 4 / 2**30:.2f} GiB in float32)")
    return LlamaForCausalLM(config)


def build_dataset(cfg: RunConfig, fmt: DataFormat, tokenizer):
    """The trainer's dataset: for sft pre-tokenized `input_ids` + `labels` (-100 off target), from the shared
    adapter layer; for dpo prompt/chosen/rejected, for grpo prompt/answer (probscope.training.rl)."""
    from datasets import Dataset

    from probscope.data import encode_file

    if cfg.trainer != "sft":
        from probscope.training.rl import preference_dataset, prompt_dataset

        build = preference_dataset if cfg.trainer == "dpo" else prompt_dataset
        return build(cfg.data, fmt, cfg.data_limit)

    examples = encode_file(cfg.data, tokenizer, fmt, limit=cfg.data_limit)
    if not examples:
        raise ProbscopeError(f"{cfg.data}: no examples")
    return Dataset.from_dict({
        "input_ids": [ex.input_ids for ex in examples],
        "labels": [[t if m else -100 for t, m in zip(ex.input_ids, ex.target_mask, strict=False)] for ex in examples],
    })


# ---- the job -------------------------------------------------------------------------------------------
def train_run(run_cfg: RunConfig, data_fmt: DataFormat, sft_cfg) -> Run:
    """Train per the three configs; returns the run. Skips training if the run already finished."""
    from transformers import set_seed

    check_launch(sft_cfg)
    validate_trainer_numbers(sft_cfg)
    objective_args = parse_objective_args(run_cfg) if run_cfg.trainer == "sft" else {}
    lora = parse_lora(run_cfg)
    run = Run.in_root(run_cfg.runs_root, run_cfg.run_name)
    if run_cfg.restart and not run_cfg.dry_run:
        _clear(run)
    if run.manifest_path.is_file() and run.read_manifest().status == "finished" and not run_cfg.dry_run:
        logger.info(f"{run.root}: already finished, skipping (--restart true trains it again)")
        return run
    resume_from = resumable_state(run)
    tokenizer = load_tokenizer(run_cfg, data_fmt)
    dataset = build_dataset(run_cfg, data_fmt, tokenizer)
    sft_cfg.output_dir = str(run.trainer_state_dir)
    sft_cfg.save_strategy = "no"          # the schedule callback decides when to save
    sft_cfg.save_total_limit = 1          # trainer states are only for resuming: keep the newest
    sft_cfg.report_to = []
    max_steps = sft_cfg.max_steps if sft_cfg.max_steps > 0 else _steps_per_epoch(len(dataset), sft_cfg)
    schedule = checkpoint_schedule(run_cfg.checkpoints, max_steps)
    resume_every = default_resume_every(max_steps) if run_cfg.resume_every is None else run_cfg.resume_every
    method = run_cfg.method or (run_cfg.objective if run_cfg.trainer == "sft" else run_cfg.trainer)
    manifest = Manifest(
        name=run.name, method=method, base_model=run_cfg.model, data=run_cfg.data,
        seed=sft_cfg.seed, code_version=code_version(),
        config={"run": asdict(run_cfg), "data_format": asdict(data_fmt), "trainer": _plain(sft_cfg.to_dict())},
    )
    if run.manifest_path.is_file():
        _refuse_changed_settings(run, manifest)
    if run_cfg.dry_run:
        logger.info(_plan(run, run_cfg, data_fmt, sft_cfg, len(dataset), max_steps, schedule))
        return run

    set_seed(sft_cfg.seed)      # the same initial weights on every rank and every rerun
    # GRPO (and PPO on it) loads the model itself: with beta > 0 TRL loads its reference from the same directory
    model = run_cfg.model if run_cfg.trainer in ONLINE_TRAINERS else build_model(run_cfg, tokenizer)
    steps = [s for s in schedule if s > 0]
    checkpoints = checkpoint_callback(run, steps, tokenizer, resume_every, max_steps)
    callbacks = [checkpoints if lora is None else _merged_lora(checkpoints, steps)]
    trainer = _build_trainer(run, run_cfg, sft_cfg, model, dataset, tokenizer, callbacks, objective_args, lora)
    is_main = devices.rank() == 0
    if is_main:     # only once every setting is accepted: a refused run leaves no "running" run behind
        run.root.mkdir(parents=True, exist_ok=True)
        run.write_manifest(manifest)
    if is_main and 0 in schedule and not (run.checkpoint(0) / "config.json").is_file():
        save_checkpoint(_saveable(trainer.model), tokenizer, run, 0)
    start = time.time()
    if resume_from:
        logger.info(f"{run.name}: resuming the killed run from {resume_from}")
    with devices.cpu_threads(trainer.model, run_cfg.threads):
        _train(trainer, resume_from)
    if is_main:
        if not (run.checkpoint(max_steps) / "config.json").is_file():
            save_checkpoint(_saveable(trainer.model), tokenizer, run, trainer.state.global_step)
        manifest.status = "finished"
        run.write_manifest(manifest)
        shutil.rmtree(run.trainer_state_dir, ignore_errors=True)
        logger.info(f"{run.name}: {trainer.state.global_step} steps in {time.time() - start:.0f}s, "
              f"{len(run.checkpoint_steps())} checkpoints in {run.checkpoints_dir}")
    return run


def check_launch(train_cfg) -> None:
    """Refuse a multi-process launch whose trainer sees one process: on a machine without GPUs (and without
    use_cpu) accelerate gives every process world size 1, so each would train the whole run alone and
    overwrite the others' checkpoints (measured: failed launches with files vanishing mid-write)."""
    launched = devices.world_size()
    if launched > 1 and train_cfg.world_size == 1:
        raise ProbscopeError(f"launched as {launched} processes, but the trainer sees one process: each would train "
                             "the whole run and overwrite the others' files; without GPUs pass --use_cpu true "
                             "(or set ACCELERATE_USE_CPU=true)")


def _train(trainer, resume_from: Path | None) -> None:
    """trainer.train, resuming from `resume_from`; a state that cannot be loaded is a one-line error."""
    if resume_from is None:
        trainer.train()
        return
    started = {"step": False}

    from transformers import TrainerCallback

    class FirstStep(TrainerCallback):   # failures after the first resumed step are not the state's fault
        def on_step_begin(self, args, state, control, **kwargs):
            started["step"] = True

    trainer.add_callback(FirstStep())
    try:
        trainer.train(resume_from_checkpoint=str(resume_from))
    except Exception as e:   # loading a damaged state raises anything from JSON to unpickling errors
        if started["step"]:
            raise
        raise ProbscopeError(f"{resume_from}: the saved trainer state cannot be loaded ({type(e).__name__}: "
                             f"{first_line(e)}); rerun with --restart true to train from the start") from None


# Settings that may change between a killed run and its resumption without changing what it trains.
RESUMABLE_CHANGES = {("run", "restart"), ("run", "dry_run"), ("run", "resume_every"), ("run", "runs_root"),
                     ("trainer", "output_dir"), ("trainer", "logging_dir"), ("trainer", "disable_tqdm"),
                     ("trainer", "local_rank"), ("trainer", "hub_token"), ("run", "threads")}


def _refuse_changed_settings(run: Run, manifest: Manifest) -> None:
    """A rerun resumes the run its manifest describes: other settings would train a mixture of two runs."""
    before = run.read_manifest()
    changed = [f"{part}.{key}" for part in ("run", "data_format", "trainer")
               for key in sorted(set(before.config.get(part, {})) | set(manifest.config.get(part, {})))
               if (part, key) not in RESUMABLE_CHANGES
               and before.config.get(part, {}).get(key) != manifest.config.get(part, {}).get(key)]
    if before.method != manifest.method:
        changed.insert(0, "method")
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ProbscopeError(f"{run.root}: already holds a run with other settings ({shown}); rerun with the "
                             "same settings to resume it, --restart true to start it over, or choose another run_name")


def _clear(run: Run) -> None:
    """What an earlier run of this name wrote: manifest, checkpoints, dynamics, trainer state, its probes."""
    if run.root.exists():
        logger.info(f"{run.root}: --restart: deleting the earlier run")
        shutil.rmtree(run.root)


def _build_trainer(run, run_cfg, train_cfg, model, dataset, tokenizer, callbacks, objective_args, lora):
    """The recipe's TRL trainer, with its dynamics recorder among the callbacks."""
    if run_cfg.trainer == "sft":
        from probscope.training.callbacks import GradientWeightCallback
        from probscope.training.trainer import ObjectiveSFTTrainer

        if run_cfg.dynamics:
            callbacks.append(GradientWeightCallback(run.dynamics_dir,
                                                    objective_args={run_cfg.objective: objective_args}))
        return ObjectiveSFTTrainer(
            model=model, args=train_cfg, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks,
            objective=run_cfg.objective, objective_args=objective_args, peft_config=lora,
            loss_normalization=run_cfg.loss_normalization,
        )
    from probscope.training.rl import build_dpo_trainer, build_grpo_trainer, build_ppo_trainer
    from probscope.training.rl_callbacks import RLDynamicsCallback

    n_pairs = len(dataset) if run_cfg.trainer == "dpo" else None
    dynamics = RLDynamicsCallback(run.dynamics_dir, run_cfg.trainer, n_pairs=n_pairs) if run_cfg.dynamics else None
    callbacks += [dynamics] if dynamics else []
    if run_cfg.trainer == "dpo":
        return build_dpo_trainer(model, train_cfg, dataset, tokenizer, callbacks, dynamics, lora)
    if run_cfg.trainer == "ppo":
        return build_ppo_trainer(model, train_cfg, dataset, tokenizer, callbacks, dynamics, lora, run_cfg.reward)
    return build_grpo_trainer(model, train_cfg, dataset, tokenizer, callbacks, dynamics, lora, run_cfg.reward)


def _saveable(model):
    """What a checkpoint holds: the model, or for LoRA a merged copy (a plain model any tool loads)."""
    from accelerate.utils import is_peft_model

    return copy.deepcopy(model).merge_and_unload() if is_peft_model(model) else model


def _merged_lora(checkpoints, steps: list[int]):
    """The checkpoint callback, handed a merged copy of a LoRA model at the scheduled steps."""
    from transformers import TrainerCallback

    class MergedLoRACheckpoints(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in steps and state.is_world_process_zero:
                model = _saveable(model)
            return checkpoints.on_step_end(args, state, control, model=model, **kwargs)

    return MergedLoRACheckpoints()


def _steps_per_epoch(n_examples: int, sft_cfg) -> int:
    world = devices.world_size()
    per_batch = sft_cfg.per_device_train_batch_size * world
    # GRPO's batch counts completions: num_generations of them per prompt
    n_rows = n_examples * (getattr(sft_cfg, "num_generations", None) or 1)
    batches = n_rows // per_batch if sft_cfg.dataloader_drop_last else math.ceil(n_rows / per_batch)
    return max(1, math.ceil(batches / sft_cfg.gradient_accumulation_steps) * int(sft_cfg.num_train_epochs))


def dpo_epochs(n_pairs: int, max_steps: int, train_cfg) -> float:
    """How many times DPO sees each pair: steps x pairs per step / pairs (a small pair set trained long collapses)."""
    per_step = train_cfg.per_device_train_batch_size * train_cfg.gradient_accumulation_steps * devices.world_size()
    return max_steps * per_step / max(1, n_pairs)


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def _plan(run, run_cfg, data_fmt, sft_cfg, n_examples, max_steps, schedule) -> str:
    detail = {"sft": f", objective {run_cfg.objective}", "grpo": f", reward {run_cfg.reward}",
              "ppo": f", reward {run_cfg.reward}"}.get(run_cfg.trainer, "")
    return "\n".join([
        f"run        {run.root}  (trainer {run_cfg.trainer}{detail})",
        *([f"lora       {run_cfg.lora}"] if run_cfg.lora else []),
        f"model      {run_cfg.model or 'from scratch: ' + str(run_cfg.model_config)}",
        f"data       {run_cfg.data}: {n_examples} examples (format {data_fmt.kind})",
        *([f"pairs      {n_examples} pairs, {dpo_epochs(n_examples, max_steps, sft_cfg):.1f} epochs over them"]
          if run_cfg.trainer == "dpo" else []),
        f"optimizer  lr {sft_cfg.learning_rate}, batch {sft_cfg.per_device_train_batch_size} x accumulation "
        f"{sft_cfg.gradient_accumulation_steps}, {max_steps} steps, "
        f"{getattr(sft_cfg.lr_scheduler_type, 'value', sft_cfg.lr_scheduler_type)} schedule",
        f"checkpoints at steps {schedule} -> {run.checkpoints_dir}",
        "dry run: nothing trained",
    ])


def train(recipe: str | Path | dict[str, Any], **overrides: Any) -> Run:
    """Train one run from a recipe (a YAML path or a dict of its keys) with `overrides` of any of its keys,
    e.g. train("train/builtin-dft.yaml", max_steps=100, model_config={"hidden_size": 64}); a key that
    does not exist is an error naming the nearest one. Returns the run (skipped if already finished)."""
    keys = dict(recipe) if isinstance(recipe, dict) else load_recipe_file(Path(recipe))
    return train_run(*recipe_configs({**keys, **overrides}))


def main(argv: list[str] | None = None) -> Run:
    run_cfg, data_fmt, sft_cfg = parse_recipe(sys.argv[1:] if argv is None else argv)
    return train_run(run_cfg, data_fmt, sft_cfg)
