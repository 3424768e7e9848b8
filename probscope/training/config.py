"""A training recipe: one flat YAML file whose keys are those of three dataclasses, each also a flag.

    probscope train train/builtin-dft.yaml --max_steps 100      # flags override the file's keys
    probscope train --help                                       # every key (add --trainer dpo|grpo for theirs)

  * RunConfig (below): what to train (run name, trainer, objective, base model or from-scratch config, data);
  * probscope.data.DataFormat: how to read the data (format, columns, max length);
  * the trainer's TRL config: how to optimize (learning_rate, max_steps, per_device_train_batch_size, bf16, ...):
    trl.SFTConfig for `trainer: sft` (every objective: sft, dft, ...; RFT and offline DFT are this trainer on
    rejection-sampled data), trl.DPOConfig for `trainer: dpo`, trl.GRPOConfig for `trainer: grpo`,
    probscope.training.ppo.PPOConfig (GRPOConfig plus PPO's keys) for `trainer: ppo`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from probscope.data import DataFormat
from probscope.errors import ProbscopeError
from probscope.runs import validate_run_name
from probscope.training.objectives import OBJECTIVES
from probscope.training.rewards import REWARDS

TRAINERS = ("sft", "dpo", "grpo", "ppo")
ONLINE_TRAINERS = ("grpo", "ppo")   # sample replies from `model` and score them with `reward`
LOSS_NORMALIZATIONS = ("window", "micro_batch")
# A from-scratch model_config must set its size: LlamaConfig's defaults are a 7B-class model.
MODEL_SIZE_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")


@dataclass
class RunConfig:
    run_name: str = field(default="", metadata={"help": "Run directory name under runs_root (required)."})
    runs_root: str = field(default="runs", metadata={"help": "Directory holding the runs."})
    trainer: str = field(
        default="sft", metadata={"help": "TRL trainer: sft (demonstrations, any `objective`), dpo (chosen/rejected "
                                         "pairs, e.g. from `probscope sample`), grpo (online, `reward` verifies), "
                                         "ppo (online, `reward` verifies, a value model: probscope.training.ppo)."}
    )
    reward: str | None = field(
        default=None, metadata={"help": "grpo, ppo: verifier used as reward, a probscope.training.rewards name "
                                        f"({', '.join(REWARDS)})."}
    )
    lora: str | None = field(
        default=None, metadata={"help": "JSON object of peft.LoraConfig settings, e.g. {\"r\": 16, "
                                        "\"target_modules\": \"all-linear\"}; checkpoints are saved merged."}
    )
    loss_normalization: str = field(
        default="window", metadata={"help": "sft: window (sum of token losses / target tokens of the whole "
                                            "accumulation window) or micro_batch (mean of each micro-batch's "
                                            "token mean: the DFT authors' released recipe)."}
    )
    objective: str = field(
        default="sft", metadata={"help": "Training objective, a probscope.training.objectives name: "
                                         f"{', '.join(OBJECTIVES)}."}
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
        default=None, metadata={"help": "JSON object of LlamaConfig settings for a model trained from scratch; "
                                        f"it sets the size ({', '.join(MODEL_SIZE_KEYS)})."}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "Tokenizer path; default: the model's."})
    data: str = field(default="", metadata={"help": "Training data file (JSONL, JSON, Parquet, CSV, saved dataset)."})
    data_limit: int | None = field(default=None, metadata={"help": "Use only the first N examples."})
    checkpoints: str = field(
        default="log", metadata={"help": "Checkpoint schedule: 'log' (0, 1, 2, 5, 10, 20, 50, ...), "
                                         "'every:N', 'final', or a comma-separated list of steps. "
                                         "The final step is always saved."}
    )
    resume_every: int | None = field(
        default=None, metadata={"help": "Save the trainer's state (optimizer, scheduler, RNG: several times the "
                                        "model's size) every this many steps, so that a killed run resumes there "
                                        "(newest state only); unset: about ten times per run; 0: never."}
    )
    restart: bool = field(
        default=False, metadata={"help": "Delete what an earlier (killed or finished) run of this name left and "
                                         "train from the start; without it a rerun resumes, and refuses settings "
                                         "that differ from the run's manifest."}
    )
    dynamics: bool = field(
        default=True, metadata={"help": "Record gradient-weight statistics every logging step into the run's "
                                        "dynamics/."}
    )
    threads: int | None = field(
        default=None, metadata={"help": "torch CPU threads while training; unset: 1 for a model under 50M parameters "
                                        "on the CPU (too small to split: 2 threads measured slower on 2 shared "
                                        "cores), else torch's default."}
    )
    dry_run: bool = field(default=False, metadata={
        "help": "Make every check a run makes (recipe, data, model settings, earlier run), print the plan; "
                "no training."})

    def __post_init__(self) -> None:
        """Every check that needs no file, so that a config built in Python is checked as a recipe is."""
        if not self.run_name:
            raise ProbscopeError("run_name is not set (recipe key `run_name` or flag --run_name)")
        validate_run_name(self.run_name)
        if not self.data:
            raise ProbscopeError("data is not set (recipe key `data` or flag --data)")
        check_trainer(self.trainer)
        if self.loss_normalization not in LOSS_NORMALIZATIONS:
            raise ProbscopeError(f"loss_normalization {self.loss_normalization!r}: use one of "
                                 f"{', '.join(LOSS_NORMALIZATIONS)}")
        if self.trainer == "sft":
            parse_objective_args(self)
        if self.reward and self.reward not in REWARDS:
            raise ProbscopeError(f"reward: {REWARDS.unknown_message(self.reward)}")
        if self.trainer in ONLINE_TRAINERS and not self.reward:
            raise ProbscopeError(f"trainer {self.trainer} needs `reward`: a verifier name ({', '.join(REWARDS)})")
        if self.trainer in ONLINE_TRAINERS and not self.model:
            raise ProbscopeError(f"trainer {self.trainer} starts from a model: set `model` (a checkpoint directory)")
        if self.threads is not None and self.threads < 1:
            raise ProbscopeError(f"threads: {self.threads} is not allowed; it must be a positive number of CPU "
                                 "threads (or unset)")
        if self.data_limit is not None and self.data_limit < 1:
            raise ProbscopeError(f"data_limit: {self.data_limit} is not allowed; it must be a positive number "
                                 "of examples")
        if self.resume_every is not None and self.resume_every < 0:
            raise ProbscopeError(f"resume_every: {self.resume_every} is not allowed; it must be 0 (never) or a "
                                 "positive number of steps")
        if self.model_config is not None:
            model_config_settings(self.model_config)
        elif not self.model:
            raise ProbscopeError("set either `model` (a starting model) or `model_config` (train from scratch)")


def check_trainer(trainer: str) -> None:
    if trainer not in TRAINERS:
        raise ProbscopeError(f"trainer {trainer!r}: use one of {', '.join(TRAINERS)}")


def model_config_settings(model_config: str) -> dict[str, Any]:
    """The LlamaConfig settings of a `model_config` JSON object: unknown settings are errors naming the nearest
    one, and the size must be set (a typo or an empty object would build the 7B-class default)."""
    from transformers import LlamaConfig

    try:
        settings = json.loads(model_config)
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"model_config: not a JSON object ({e.msg})") from None
    if not isinstance(settings, dict):
        raise ProbscopeError("model_config: not a JSON object of LlamaConfig settings")
    known = sorted(LlamaConfig().to_dict())
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise ProbscopeError(f"model_config: unknown LlamaConfig setting {key!r}"
                                 + (f" (did you mean {close[0]!r}?)" if close else ""))
    if not set(MODEL_SIZE_KEYS) & set(settings):
        raise ProbscopeError(f"model_config: {model_config} sets no size: it would build LlamaConfig's 7B-class "
                             f"default; set {', '.join(MODEL_SIZE_KEYS)}")
    return settings


# ---- recipes: YAML + flags ----------------------------------------------------------------------------
def trainer_config_class(trainer: str):
    """The TRL config dataclass of a trainer name."""
    import trl

    check_trainer(trainer)
    if trainer == "ppo":
        from probscope.training.ppo import PPOConfig

        return PPOConfig
    return {"sft": trl.SFTConfig, "dpo": trl.DPOConfig, "grpo": trl.GRPOConfig}[trainer]


def parse_recipe(argv: list[str]):
    """(RunConfig, DataFormat, TRL config) from `[RECIPE.yaml] [--key value ...]`; flags override YAML."""
    recipe: dict[str, Any] = {}
    if argv and not argv[0].startswith("-"):
        recipe = load_recipe_file(Path(argv[0]))
        argv = argv[1:]
    return recipe_configs(recipe, argv)


def recipe_configs(recipe: dict[str, Any], argv: list[str] | None = None):
    """(RunConfig, DataFormat, TRL config) from a recipe's keys (YAML or Python values) and flags that override
    them; a key no part knows is an error naming the nearest key."""
    argv = argv or []
    trainer = trainer_from(argv, recipe)
    train_config = trainer_config_class(trainer)
    parser = recipe_parser(trainer)
    check_recipe_keys(recipe, trainer)
    recipe = dict(recipe)
    recipe.setdefault("output_dir", "")     # TRL's configs require it; we set it from the run directory
    if "bf16" not in recipe and _flag_in(argv, "bf16") is None:
        recipe["bf16"] = _bf16_available()  # TRL defaults to bf16 even where only a slow CPU emulation exists
    parser.set_defaults(**{k: _flag_value(v) for k, v in recipe.items()})
    values = vars(parser.parse_args(argv))
    try:
        run_cfg, data_fmt, sft_cfg = (
            dc(**{f.name: values[f.name] for f in fields(dc) if f.init and f.name in values})
            for dc in (RunConfig, DataFormat, train_config)
        )
    except ValueError as e:     # transformers' own checks, e.g. bf16 asked for on a machine without it
        raise ProbscopeError(f"recipe: {str(e).splitlines()[0]}") from None
    validate_trainer_numbers(sft_cfg)
    return run_cfg, data_fmt, sft_cfg


def check_recipe_keys(recipe: dict[str, Any], trainer: str) -> None:
    """Refuse a key that none of the trainer's three configs has, naming the nearest one (a typo would be lost)."""
    known = sorted({f.name for dc in (RunConfig, DataFormat, trainer_config_class(trainer)) for f in fields(dc)})
    for key in sorted(set(recipe) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        raise ProbscopeError(f"recipe key {key!r} does not exist for trainer {trainer}"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; see `probscope train --trainer {trainer} --help`")


def validate_trainer_numbers(train_cfg) -> None:
    """Numbers of a TRL config the trainers would misread (max_steps 0 trains epochs, a batch of 0 hangs); the
    RunConfig checks its own in __post_init__."""
    checks = [
        ("max_steps", train_cfg.max_steps, lambda v: v == -1 or v >= 1,
         "a positive number of optimizer steps (or unset: num_train_epochs passes)"),
        ("learning_rate", train_cfg.learning_rate, lambda v: v > 0, "positive"),
        ("per_device_train_batch_size", train_cfg.per_device_train_batch_size, lambda v: v >= 1, "at least 1"),
        ("gradient_accumulation_steps", train_cfg.gradient_accumulation_steps, lambda v: v >= 1, "at least 1"),
        ("num_train_epochs", train_cfg.num_train_epochs, lambda v: v > 0, "positive"),
        ("logging_steps", train_cfg.logging_steps, lambda v: v > 0, "positive"),
    ]
    for key, value, valid, wanted in checks:
        if not valid(value):
            raise ProbscopeError(f"{key}: {value} is not allowed; it must be {wanted}")


def default_resume_every(max_steps: int) -> int:
    """About ten trainer states per run (at least every step of a short run, at most every 500 steps)."""
    return min(500, max(1, max_steps // 10))


def recipe_parser(trainer: str = "sft"):
    """The flag parser for every recipe key (RunConfig, DataFormat, the trainer's TRL config)."""
    from transformers import HfArgumentParser

    # Two keys exist in two parts: max_length (DataFormat truncates, TRL's config too) and run_name
    # (TRL names the run for loggers). "resolve" keeps one flag each, whose value fills both.
    # ignored: transformers types its dataclass argument as a NewType no class matches
    return HfArgumentParser(
        (RunConfig, DataFormat, trainer_config_class(trainer)),  # type: ignore[arg-type]
        prog="probscope train RECIPE.yaml",
        conflict_handler="resolve",
    )


def _bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def trainer_from(argv: list[str], recipe: dict[str, Any]) -> str:
    """The trainer a recipe and its flags choose (the flag wins), read before the parser that depends on it."""
    return _flag_in(argv, "trainer") or recipe.get("trainer", "sft")


def _flag_in(argv: list[str], name: str) -> str | None:
    """The value of --name (or --name=value) in argv, read before the parser exists (it depends on it)."""
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


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


def parse_lora(cfg: RunConfig):
    """A peft.LoraConfig from the recipe's `lora` JSON, or None."""
    if not cfg.lora:
        return None
    try:
        settings = json.loads(cfg.lora)
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"lora: not a JSON object ({e.msg})") from None
    try:
        from peft import LoraConfig
    except ImportError:
        raise ProbscopeError("lora: the peft package is not installed (pip install peft)") from None
    settings.setdefault("task_type", "CAUSAL_LM")
    try:
        return LoraConfig(**settings)
    except (TypeError, ValueError) as e:
        raise ProbscopeError(f"lora: {str(e).splitlines()[0]}") from None


def parse_objective_args(cfg: RunConfig) -> dict[str, Any]:
    """The objective's hyper-parameters, checked against its signature before anything loads."""
    from probscope.training.objectives import get_objective

    try:
        args = json.loads(cfg.objective_args) if cfg.objective_args else {}
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"objective_args: not a JSON object ({e.msg})") from None
    return get_objective(cfg.objective).resolve_args(args)
