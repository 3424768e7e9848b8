"""Train one run: a recipe (YAML + CLI flags) -> a run directory with scheduled HF checkpoints.

    probscope train train/builtin-sft.yaml                       # the built-in SFT run
    probscope train train/builtin-dft.yaml --max_steps 100       # any key can be overridden as a flag
    accelerate launch train/train.py train/numina-dft.yaml       # multi-GPU, same recipes

A recipe has three parts, all flat keys in one YAML file:
  * RunConfig (below): what to train (run name, objective, base model or from-scratch config, data);
  * probscope.datasets.DataFormat: how to read the data (format, columns, max length);
  * trl.SFTConfig: how to optimize (learning_rate, max_steps, per_device_train_batch_size, bf16, ...).
The trainer is TRL's SFTTrainer; the run layout is probscope.runs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from probscope.datasets import DataFormat
from probscope.errors import ProbscopeError
from probscope.runs import Manifest, Run, code_version


@dataclass
class RunConfig:
    run_name: str = field(default="", metadata={"help": "Run directory name under runs_root (required)."})
    runs_root: str = field(default="runs", metadata={"help": "Directory holding the runs."})
    objective: str = field(
        default="sft", metadata={"help": "Training objective, a probscope.objectives name: sft, dft, dft-sentence, "
                                         "dft-geometric, dft-floor, asft, power."}
    )
    objective_args: str | None = field(
        default=None, metadata={"help": "JSON object of the objective's hyper-parameters, e.g. {\"floor\": 0.2}."}
    )
    method: str | None = field(
        default=None, metadata={"help": "Label of the run in figures (base, sft, dft, ...); default: the objective."}
    )
    model: str | None = field(
        default=None, metadata={"help": "Starting model (a save_pretrained directory or hub name). "
                                        "Unset: a new model from `model_config`."}
    )
    model_config: str | None = field(
        default=None, metadata={"help": "JSON object of LlamaConfig settings for a model trained from scratch."}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer path; default: the model's."})
    data: str = field(default="", metadata={"help": "Training data file (JSONL, JSON, Parquet, CSV, saved dataset)."})
    data_limit: int | None = field(default=None, metadata={"help": "Use only the first N examples."})
    checkpoints: str = field(
        default="log", metadata={"help": "Checkpoint schedule: 'log' (0, 1, 2, 5, 10, 20, 50, ...), "
                                         "'every:N', 'final', or a comma-separated list of steps. "
                                         "The final step is always saved."}
    )
    resume_every: int = field(
        default=100, metadata={"help": "Also save the trainer's state (optimizer, scheduler, RNG: several times the "
                                       "model's size) at a scheduled checkpoint at most every this many steps, so a "
                                       "killed run resumes there; 0: never (a killed run restarts)."}
    )
    dynamics: bool = field(
        default=True, metadata={"help": "Record gradient-weight statistics every logging step into the run's dynamics/."}
    )
    dry_run: bool = field(default=False, metadata={"help": "Validate the recipe, load data, print the plan; no training."})


# ---- recipes: YAML + flags ----------------------------------------------------------------------------
def parse_recipe(argv: list[str]):
    """(RunConfig, DataFormat, SFTConfig) from `[RECIPE.yaml] [--key value ...]`; flags override YAML."""
    from trl import SFTConfig

    parser = recipe_parser()
    recipe: dict[str, Any] = {}
    if argv and not argv[0].startswith("-"):
        recipe = load_recipe_file(Path(argv[0]))
        argv = argv[1:]
    known = {f.name for dc in (RunConfig, DataFormat, SFTConfig) for f in fields(dc)}
    unknown = sorted(set(recipe) - known)
    if unknown:
        raise ProbscopeError(f"recipe key(s) {', '.join(unknown)} do not exist (see `probscope train --help`)")
    recipe.setdefault("output_dir", "")     # SFTConfig requires it; we set it from the run directory
    parser.set_defaults(**{k: _flag_value(v) for k, v in recipe.items()})
    values = vars(parser.parse_args(argv))
    try:
        run_cfg, data_fmt, sft_cfg = (
            dc(**{f.name: values[f.name] for f in fields(dc) if f.init and f.name in values})
            for dc in (RunConfig, DataFormat, SFTConfig)
        )
    except ValueError as e:     # transformers' own checks, e.g. bf16 asked for on a machine without it
        raise ProbscopeError(f"recipe: {str(e).splitlines()[0]}") from None
    if not run_cfg.run_name:
        raise ProbscopeError("run_name is not set (recipe key `run_name` or flag --run_name)")
    if not run_cfg.data:
        raise ProbscopeError("data is not set (recipe key `data` or flag --data)")
    return run_cfg, data_fmt, sft_cfg


def recipe_parser():
    """The flag parser for every recipe key (RunConfig, DataFormat, SFTConfig)."""
    from transformers import HfArgumentParser
    from trl import SFTConfig

    # Two keys exist in two parts: max_length (DataFormat truncates, SFTConfig too) and run_name
    # (SFTConfig names the run for loggers). "resolve" keeps one flag each, whose value fills both.
    return HfArgumentParser(
        (RunConfig, DataFormat, SFTConfig), prog="probscope train RECIPE.yaml", conflict_handler="resolve"
    )


def load_recipe_file(path: Path) -> dict[str, Any]:
    try:
        recipe = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ProbscopeError(f"{path}: recipe file not found") from None
    except yaml.YAMLError as e:
        raise ProbscopeError(f"{path}: invalid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(recipe, dict):
        raise ProbscopeError(f"{path}: a recipe is a mapping of keys to values")
    return recipe


def _flag_value(value: Any) -> Any:
    # nested YAML (e.g. model_config) travels as JSON text, like its CLI flag
    return json.dumps(value) if isinstance(value, (dict, list)) else value


# ---- checkpoint schedules -----------------------------------------------------------------------------
def checkpoint_schedule(spec: str, max_steps: int) -> list[int]:
    """Steps to save, ascending, always including the final step. 'log' = 0, 1, 2, 5, 10, 20, 50, ..."""
    spec = spec.strip()
    if spec == "final":
        steps = set()
    elif spec == "log":
        steps = {m * 10**e for e in range(int(math.log10(max(max_steps, 1))) + 1) for m in (1, 2, 5)} | {0}
    elif spec.startswith("every:"):
        try:
            every = int(spec.split(":", 1)[1])
        except ValueError:
            raise ProbscopeError(f"checkpoints: '{spec}' is not every:N with an integer N") from None
        steps = set(range(0, max_steps + 1, max(every, 1)))
    else:
        try:
            steps = {int(s) for s in spec.split(",") if s.strip()}
        except ValueError:
            raise ProbscopeError(f"checkpoints: '{spec}' is not log, every:N, final or a list of steps") from None
    return sorted(s for s in steps | {max_steps} if 0 <= s <= max_steps)


def save_checkpoint(model, tokenizer, run: Run, step: int) -> Path:
    """save_pretrained into a temporary directory, then rename: a killed run never leaves half a checkpoint."""
    final = run.checkpoint(step)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _checkpoint_callback(run: Run, steps: list[int], tokenizer, resume_every: int, max_steps: int):
    from transformers import TrainerCallback

    class ScheduledCheckpoints(TrainerCallback):
        """At the scheduled optimizer steps: our HF checkpoint (main process) and, at most every
        `resume_every` steps and never at the end, the trainer's own state in <run>/trainer/ (newest only)
        so that a killed run can resume."""

        def __init__(self):
            self.last_state = 0

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if step not in steps:
                return
            if state.is_world_process_zero:
                save_checkpoint(model, tokenizer, run, step)
            if resume_every and step - self.last_state >= resume_every and step < max_steps:
                control.should_save = True
                self.last_state = step

    return ScheduledCheckpoints()


# ---- building the pieces ------------------------------------------------------------------------------
def load_tokenizer(cfg: RunConfig):
    from transformers import AutoTokenizer

    path = cfg.tokenizer or cfg.model
    if not path:
        raise ProbscopeError("tokenizer is not set: a model trained from scratch needs `tokenizer`")
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ProbscopeError(f"{path}: cannot load a tokenizer ({str(e).splitlines()[0]})") from None
    if tok.pad_token is None:   # batching needs one; EOS is the usual stand-in
        tok.pad_token = tok.eos_token
    return tok


def build_model(cfg: RunConfig, tokenizer):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if cfg.model:
        try:
            return AutoModelForCausalLM.from_pretrained(cfg.model)
        except (OSError, ValueError) as e:
            raise ProbscopeError(f"{cfg.model}: not a loadable causal LM ({str(e).splitlines()[0]})") from None
    if not cfg.model_config:
        raise ProbscopeError("set either `model` (a starting model) or `model_config` (train from scratch)")
    try:
        settings = json.loads(cfg.model_config)
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"model_config: not a JSON object ({e.msg})") from None
    config = LlamaConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **settings,
    )
    return LlamaForCausalLM(config)


def build_dataset(cfg: RunConfig, fmt: DataFormat, tokenizer):
    """Pre-tokenized `input_ids` + `labels` (-100 off target), from the shared adapter layer."""
    from datasets import Dataset

    from probscope.datasets import encode_file

    examples = encode_file(cfg.data, tokenizer, fmt, limit=cfg.data_limit)
    if not examples:
        raise ProbscopeError(f"{cfg.data}: no examples")
    return Dataset.from_dict({
        "input_ids": [ex.input_ids for ex in examples],
        "labels": [[t if m else -100 for t, m in zip(ex.input_ids, ex.target_mask)] for ex in examples],
    })


def parse_objective_args(cfg: RunConfig) -> dict[str, Any]:
    """The objective's hyper-parameters, checked against its signature before anything loads."""
    from probscope.objectives import get_objective

    try:
        args = json.loads(cfg.objective_args) if cfg.objective_args else {}
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"objective_args: not a JSON object ({e.msg})") from None
    return get_objective(cfg.objective).resolve_args(args)


# ---- the job -------------------------------------------------------------------------------------------
def train_run(run_cfg: RunConfig, data_fmt: DataFormat, sft_cfg) -> Run:
    """Train per the three configs; returns the run. Skips training if the run already finished."""
    from transformers import set_seed

    from probscope.dynamics import GradientWeightCallback
    from probscope.trainer import ObjectiveSFTTrainer

    objective_args = parse_objective_args(run_cfg)
    run = Run(Path(run_cfg.runs_root) / run_cfg.run_name)
    if run.manifest_path.is_file() and run.read_manifest().status == "finished" and not run_cfg.dry_run:
        print(f"{run.root}: already finished, skipping (delete it to retrain)")
        return run
    resume_from = _resumable_state(run)
    tokenizer = load_tokenizer(run_cfg)
    dataset = build_dataset(run_cfg, data_fmt, tokenizer)
    sft_cfg.output_dir = str(run.trainer_state_dir)
    sft_cfg.save_strategy = "no"          # the schedule callback decides when to save
    sft_cfg.save_total_limit = 1          # trainer states are only for resuming: keep the newest
    sft_cfg.report_to = []
    max_steps = sft_cfg.max_steps if sft_cfg.max_steps > 0 else _steps_per_epoch(len(dataset), sft_cfg)
    schedule = checkpoint_schedule(run_cfg.checkpoints, max_steps)
    if run_cfg.dry_run:
        print(_plan(run, run_cfg, data_fmt, sft_cfg, len(dataset), max_steps, schedule))
        return run

    set_seed(sft_cfg.seed)      # the same initial weights on every rank and every rerun
    model = build_model(run_cfg, tokenizer)
    manifest = Manifest(
        name=run.name, method=run_cfg.method or run_cfg.objective, base_model=run_cfg.model, data=run_cfg.data,
        seed=sft_cfg.seed, code_version=code_version(),
        config={"run": asdict(run_cfg), "data_format": asdict(data_fmt), "trainer": _plain(sft_cfg.to_dict())},
    )
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        run.root.mkdir(parents=True, exist_ok=True)
        run.write_manifest(manifest)
        if 0 in schedule and not (run.checkpoint(0) / "config.json").is_file():
            save_checkpoint(model, tokenizer, run, 0)
    callbacks = [_checkpoint_callback(run, [s for s in schedule if s > 0], tokenizer, run_cfg.resume_every, max_steps)]
    if run_cfg.dynamics:
        callbacks.append(GradientWeightCallback(run.dynamics_dir, objective_args={run_cfg.objective: objective_args}))
    trainer = ObjectiveSFTTrainer(
        model=model, args=sft_cfg, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks,
        objective=run_cfg.objective, objective_args=objective_args,
    )
    start = time.time()
    if resume_from:
        print(f"{run.name}: resuming the killed run from {resume_from}")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if is_main:
        if not (run.checkpoint(max_steps) / "config.json").is_file():
            save_checkpoint(trainer.model, tokenizer, run, trainer.state.global_step)
        manifest.status = "finished"
        run.write_manifest(manifest)
        shutil.rmtree(run.trainer_state_dir, ignore_errors=True)
        print(f"{run.name}: {trainer.state.global_step} steps in {time.time() - start:.0f}s, "
              f"{len(run.checkpoint_steps())} checkpoints in {run.checkpoints_dir}")
    return run


def _resumable_state(run: Run) -> Path | None:
    """The newest complete trainer state of an unfinished run (trainer_state.json is written last)."""
    states = [p for p in run.trainer_state_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(states, key=lambda p: int(p.name.split("-")[1]), default=None)


def _steps_per_epoch(n_examples: int, sft_cfg) -> int:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = sft_cfg.per_device_train_batch_size * sft_cfg.gradient_accumulation_steps * world
    return max(1, math.ceil(n_examples / per_step) * int(sft_cfg.num_train_epochs))


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def _plan(run, run_cfg, data_fmt, sft_cfg, n_examples, max_steps, schedule) -> str:
    return "\n".join([
        f"run        {run.root}  (objective {run_cfg.objective})",
        f"model      {run_cfg.model or 'from scratch: ' + str(run_cfg.model_config)}",
        f"data       {run_cfg.data}: {n_examples} examples (format {data_fmt.kind})",
        f"optimizer  lr {sft_cfg.learning_rate}, batch {sft_cfg.per_device_train_batch_size} x accumulation "
        f"{sft_cfg.gradient_accumulation_steps}, {max_steps} steps, {getattr(sft_cfg.lr_scheduler_type, 'value', sft_cfg.lr_scheduler_type)} schedule",
        f"checkpoints at steps {schedule} -> {run.checkpoints_dir}",
        "dry run: nothing trained",
    ])


def main(argv: list[str] | None = None) -> Run:
    run_cfg, data_fmt, sft_cfg = parse_recipe(sys.argv[1:] if argv is None else argv)
    return train_run(run_cfg, data_fmt, sft_cfg)
