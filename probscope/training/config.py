"""A training recipe: one flat YAML file whose keys are those of three dataclasses, each also a flag.

    probscope train train/builtin-dft.yaml --max_steps 100      # flags override the file's keys
    probscope train --help                                       # every key

  * RunConfig (below): what to train (run name, objective, base model or from-scratch config, data);
  * probscope.data.DataFormat: how to read the data (format, columns, max length);
  * trl.SFTConfig: how to optimize (learning_rate, max_steps, per_device_train_batch_size, bf16, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from probscope.data import DataFormat
from probscope.errors import ProbscopeError


@dataclass
class RunConfig:
    run_name: str = field(default="", metadata={"help": "Run directory name under runs_root (required)."})
    runs_root: str = field(default="runs", metadata={"help": "Directory holding the runs."})
    objective: str = field(
        default="sft", metadata={"help": "Training objective, a probscope.training.objectives name: sft, dft, dft-sentence, "
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


def parse_objective_args(cfg: RunConfig) -> dict[str, Any]:
    """The objective's hyper-parameters, checked against its signature before anything loads."""
    from probscope.training.objectives import get_objective

    try:
        args = json.loads(cfg.objective_args) if cfg.objective_args else {}
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"objective_args: not a JSON object ({e.msg})") from None
    return get_objective(cfg.objective).resolve_args(args)
