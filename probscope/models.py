"""Loading causal LMs and tokenizers safely, with one-line errors that name the file and what to do instead.

    from probscope.models import load_causal_lm, load_tokenizer, require_model_dir
    model = load_causal_lm("runs/sft/checkpoints/step-000100", dtype="bfloat16")   # dtype None: as saved
    model = load_causal_lm("ckpts/checkpoint-500", base_model="Qwen/Qwen2.5-0.5B")  # LoRA adapter, merged
    tokenizer = load_tokenizer("runs/sft/checkpoints/step-000100")                 # pad token set (EOS) if missing
    require_model_dir("runs/sft")   # ProbscopeError: a run directory, not a model; pass one of its checkpoints

A path that exists is checked here first (a run directory or a folder without config.json gets its own
message); anything else goes to transformers as a hub name (served from the local cache when offline).

Safe by default: a model's own Python code (`auto_map` in its config) runs only with trust_remote_code=True;
a folder holding *.safetensors is read only from those (a pickled *.bin beside them is never opened), and
*.bin weights go through torch.load(weights_only=True) inside transformers / peft. Weight files are checked
before loading (a truncated or random safetensors file names itself), and a model whose config does not
match its weights (another vocabulary size, other layers) is refused instead of being filled with random
weights.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, cast

from probscope import runs
from probscope.devices import parse_dtype
from probscope.errors import ProbscopeError, first_line

logger = logging.getLogger(__name__)

# what transformers raises for a folder or hub name that does not hold a loadable model/tokenizer
_LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError)
ADAPTER_CONFIG = "adapter_config.json"
# files that make a folder hold a tokenizer (any one of them is enough for AutoTokenizer)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def require_model_dir(path: str | os.PathLike) -> Path:
    """`path` as a Path if it holds a saved model (or LoRA adapter), else a one-line error that says what
    to pass instead."""
    path = Path(path)
    if not path.is_dir():
        raise ProbscopeError(f"{path}: not a model directory (it does not exist)")
    _refuse_run_dir(path)
    if not runs.is_checkpoint(path):
        raise ProbscopeError(f"{path}: not a model directory (no config.json, nor {ADAPTER_CONFIG} of a LoRA adapter); "
                             "pass a checkpoint saved with save_pretrained")
    return path


def has_tokenizer(path: str | os.PathLike) -> bool:
    """Whether a folder holds a tokenizer of its own (a LoRA adapter or a bare weights folder may not)."""
    return any((Path(path) / name).is_file() for name in TOKENIZER_FILES)


def is_adapter(path: str | os.PathLike) -> bool:
    """A LoRA (PEFT) adapter folder: adapter_config.json and no full model config."""
    path = Path(path)
    return (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()


def load_causal_lm(name_or_path: str | os.PathLike, dtype=None, *, trust_remote_code: bool = False,
                   base_model: str | None = None):
    """AutoModelForCausalLM from a save_pretrained directory or hub name, in `dtype` (None: as saved).

    A LoRA adapter folder is loaded over its base (base_model, else the adapter's base_model_name_or_path)
    and merged, so the result is a plain model. trust_remote_code: allow the model's own Python code.
    """
    from transformers import AutoModelForCausalLM

    local = Path(name_or_path).exists()
    source = require_model_dir(name_or_path) if local else str(name_or_path)
    torch_dtype = parse_dtype(dtype)
    if isinstance(source, Path) and is_adapter(source):   # a Path exactly when local
        return _load_adapter(source, dtype, trust_remote_code, base_model)
    options = {}
    if isinstance(source, Path):
        _check_config(source)
        if _check_safetensors(source):
            options["use_safetensors"] = True
    try:
        # mismatched sizes load (re-initialized) so that _refuse_incomplete can name the weight and both shapes
        # cast: transformers annotates a model alone; output_loading_info makes it (model, info)
        model, info = cast(tuple[Any, dict], AutoModelForCausalLM.from_pretrained(
            source, dtype=torch_dtype or "auto", trust_remote_code=trust_remote_code, output_loading_info=True,
            ignore_mismatched_sizes=True, **options))
    except _LOAD_ERRORS as e:
        raise ProbscopeError(f"{source}: cannot load a causal language model ({_reason(e)})") from None
    _refuse_incomplete(source, info, local)
    return model


def load_tokenizer(name_or_path: str | os.PathLike, *, trust_remote_code: bool = False):
    """AutoTokenizer from a directory or hub name; a tokenizer without a pad token pads with EOS
    (batching needs one, and EOS is the usual stand-in)."""
    from transformers import AutoTokenizer

    path = Path(name_or_path)
    if path.exists():
        _refuse_run_dir(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path if path.exists() else str(name_or_path),
                                                  trust_remote_code=trust_remote_code)
    except _LOAD_ERRORS as e:
        raise ProbscopeError(f"{name_or_path}: cannot load a tokenizer ({_reason(e)})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _reason(error: Exception) -> str:
    text = first_line(error)
    if "trust_remote_code" in str(error) or "contains custom code" in str(error):
        return "it ships its own Python code; pass --trust-remote-code (trust_remote_code=True) if you trust it"
    return text


def _check_config(path: Path) -> None:
    config = path / "config.json"
    try:
        raw = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProbscopeError(f"{config}: not valid JSON ({first_line(e)}); re-save the checkpoint") from None
    if not isinstance(raw, dict):
        raise ProbscopeError(f"{config}: not a model config (a JSON object); re-save the checkpoint")


def _check_safetensors(path: Path) -> bool:
    """Whether `path` holds safetensors weights, after opening each file's header (which also checks that the
    file is as long as its header says): a truncated or random file is a one-line error naming it."""
    from safetensors import SafetensorError, safe_open

    files = sorted(path.glob("*.safetensors"))
    for file in files:
        try:
            with safe_open(file, framework="pt") as f:
                f.keys()
        except (SafetensorError, OSError) as e:
            raise ProbscopeError(f"{file}: not a valid safetensors file ({first_line(e)}): truncated or corrupt; "
                                 "copy or download it again") from None
    return bool(files)


def _refuse_incomplete(source, info: dict, local: bool) -> None:
    """A config that does not match the weights would leave weights randomly initialized: refuse it."""
    weights = _weights_name(Path(source)) if local else "the weights"
    mismatched = sorted(info.get("mismatched_keys") or [], key=lambda m: m[0])
    if mismatched:
        key, saved, wanted = mismatched[0]
        raise ProbscopeError(f"{source}: config.json does not match {weights}: {key} is {list(saved)} there but "
                             f"{list(wanted)} per config.json (check vocab_size and the hidden sizes)")
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ProbscopeError(f"{source}: {len(missing)} weights the config asks for are not in {weights} (e.g. "
                             f"{missing[0]}); config.json does not match the weights (check num_hidden_layers)")
    unexpected = sorted(info.get("unexpected_keys") or [])
    if unexpected:
        logger.warning(f"{source}: {len(unexpected)} tensors in {weights} are not used by the model "
                       f"(e.g. {unexpected[0]})")


def _weights_name(path: Path) -> str:
    files = sorted(p.name for p in path.glob("*.safetensors")) or sorted(p.name for p in path.glob("*.bin"))
    return files[0] if len(files) == 1 else "the weight files" if not files else f"{files[0]} ..."


def adapter_base(path: str | os.PathLike) -> str:
    """The base model a LoRA adapter folder names (base_model_name_or_path in adapter_config.json)."""
    config_file = Path(path) / ADAPTER_CONFIG
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProbscopeError(f"{config_file}: not valid JSON ({first_line(e)})") from None
    base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if not base:
        raise ProbscopeError(f"{config_file}: names no base model (base_model_name_or_path); give the run one "
                             "(probscope add-run --base MODEL)")
    return base


def _load_adapter(path: Path, dtype, trust_remote_code: bool, base_model: str | None):
    """The adapter's base model with the adapter merged in (a plain model: the probe sees no PEFT wrapper)."""
    base = base_model or adapter_base(path)
    try:
        from peft import PeftModel
    except ImportError:
        raise ProbscopeError(f"{path}: a LoRA adapter; loading it needs peft (pip install peft)") from None
    _check_safetensors(path)
    model = load_causal_lm(base, dtype, trust_remote_code=trust_remote_code)
    try:
        return PeftModel.from_pretrained(model, path).merge_and_unload()
    except (*_LOAD_ERRORS, RuntimeError) as e:
        raise ProbscopeError(f"{path}: cannot apply this LoRA adapter to {base} ({first_line(e)})") from None


def _refuse_run_dir(path: Path) -> None:
    """A run directory holds models in checkpoints/step-N: name one, or say that none is finished yet."""
    if (path / runs.MANIFEST).is_file():
        steps = runs.Run(path).checkpoint_steps()
        hint = f"e.g. {runs.Run(path).checkpoint(steps[-1])}" if steps else "it has no finished checkpoint yet"
        raise ProbscopeError(f"{path}: a run directory, not a model; pass one of its checkpoints ({hint})")
