"""Loading causal LMs and tokenizers, with one-line errors that name the path and what to pass instead.

    from probscope.models import load_causal_lm, load_tokenizer, require_model_dir
    model = load_causal_lm("runs/sft/checkpoints/step-000100", dtype="bfloat16")   # dtype None: as saved
    tokenizer = load_tokenizer("runs/sft/checkpoints/step-000100")                 # pad token set (EOS) if missing
    require_model_dir("runs/sft")   # ProbscopeError: a run directory, not a model; pass one of its checkpoints

A path that exists is checked here first (a run directory or a folder without config.json gets its own
message); anything else goes to transformers as a hub name (served from the local cache when offline).
"""

from __future__ import annotations

import os
from pathlib import Path

from probscope import runs
from probscope.devices import parse_dtype
from probscope.errors import ProbscopeError, first_line

# what transformers raises for a folder or hub name that does not hold a loadable model/tokenizer
_LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError)


def require_model_dir(path: str | os.PathLike) -> Path:
    """`path` as a Path if it holds a saved model, else a one-line error that says what to pass instead."""
    path = Path(path)
    if not path.is_dir():
        raise ProbscopeError(f"{path}: not a model directory (it does not exist)")
    _refuse_run_dir(path)
    if not (path / "config.json").is_file():
        raise ProbscopeError(f"{path}: not a model directory (no config.json); pass a checkpoint saved with save_pretrained")
    return path


def load_causal_lm(name_or_path: str | os.PathLike, dtype=None):
    """AutoModelForCausalLM from a save_pretrained directory or hub name, in `dtype` (None: as saved)."""
    from transformers import AutoModelForCausalLM

    source = require_model_dir(name_or_path) if Path(name_or_path).exists() else str(name_or_path)
    torch_dtype = parse_dtype(dtype)
    try:
        return AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype or "auto")
    except _LOAD_ERRORS as e:
        raise ProbscopeError(f"{source}: cannot load a causal language model ({first_line(e)})") from None


def load_tokenizer(name_or_path: str | os.PathLike):
    """AutoTokenizer from a directory or hub name; a tokenizer without a pad token pads with EOS
    (batching needs one, and EOS is the usual stand-in)."""
    from transformers import AutoTokenizer

    path = Path(name_or_path)
    if path.exists():
        _refuse_run_dir(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path if path.exists() else str(name_or_path))
    except _LOAD_ERRORS as e:
        raise ProbscopeError(f"{name_or_path}: cannot load a tokenizer ({first_line(e)})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _refuse_run_dir(path: Path) -> None:
    """A run directory holds models in checkpoints/step-N: name one, or say that none is finished yet."""
    if (path / runs.MANIFEST).is_file():
        steps = runs.Run(path).checkpoint_steps()
        hint = f"e.g. {runs.Run(path).checkpoint(steps[-1])}" if steps else "it has no finished checkpoint yet"
        raise ProbscopeError(f"{path}: a run directory, not a model; pass one of its checkpoints ({hint})")
