"""Probe every checkpoint of a run on one dataset, into the run's own layout, skipping finished ones.

    from probscope.probe.run import probe_run
    summaries = probe_run("runs/dft-numina", "numina.jsonl")       # -> runs/dft-numina/probes/numina/step-N
    summaries = probe_run("runs/dft-numina")                       # its training data -> .../probes/train/step-N
    # probscope probe --run runs/dft-numina [--data numina.jsonl] [--dataset NAME]

The dataset's name defaults to the data file's name without its extension, and to "train" when the file is
the run's own training data (its manifest's `data`). Each checkpoint's tokenizer is its own, else the one
the manifest's config names ("tokenizer", set by `probscope add-run --tokenizer`), else the base model's; the
data is encoded once per distinct tokenizer. A LoRA adapter checkpoint is merged into the run's base model
(probscope.models.load_causal_lm). A step already probed on this dataset with the same inputs is skipped
without loading its weights; one probed with other data is refused (name another --dataset).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from probscope import runs
from probscope.errors import ProbscopeError
from probscope.models import has_tokenizer, load_tokenizer
from probscope.probe.api import probe_checkpoint
from probscope.probe.state import ProbeSummary


def probe_run(run_dir: str | os.PathLike, data: str | os.PathLike | None = None, data_format=None, *,
              dataset: str | None = None, tokenizer: str | None = None, limit: int | None = None,
              steps: Sequence[int] | None = None, trust_remote_code: bool = False,
              **options) -> list[ProbeSummary]:
    """Probe each checkpoint of the run at `run_dir` (or those at `steps`) on `data` (None: the run's training
    data, from its manifest; a probscope.data.DataFormat describes it, None: inferred); returns one summary per
    checkpoint, finished ones included (already_done)."""
    from probscope.data import DataFormat, encode_file

    run = runs.Run(Path(run_dir))
    manifest = run.read_manifest()
    if data is None:
        if not manifest.data:
            raise ProbscopeError(f"{run.manifest_path}: names no training data ('data'); pass --data FILE")
        data = manifest.data
    _refuse_vanished(run, steps)
    saved = run.checkpoint_steps()
    if not saved:
        raise ProbscopeError(f"{run.checkpoints_dir}: no finished checkpoint to probe (step-N folders holding "
                             "config.json or adapter_config.json)")
    missing = sorted(set(steps or ()) - set(saved))
    if missing:
        raise ProbscopeError(f"{run.checkpoints_dir}: no checkpoint at step(s) {', '.join(map(str, missing))} "
                             f"(saved: {', '.join(map(str, saved))})")
    steps = saved if steps is None else sorted(set(steps))
    dataset = dataset_name(data, manifest.data) if dataset is None else check_dataset_name(dataset)
    data_format = data_format if data_format is not None else DataFormat()
    if data_format.tokenization is None and manifest.config.get("tokenization"):   # recorded by add-run
        data_format = dataclasses.replace(data_format, tokenization=manifest.config["tokenization"])
    encoded: dict[str, tuple] = {}   # tokenizer identity -> (tokenizer, examples)
    summaries = []
    for step in steps:
        checkpoint = run.checkpoint(step)
        source = tokenizer or tokenizer_source(checkpoint, manifest)
        key = tokenizer_identity(source)
        if key not in encoded:
            loaded = load_tokenizer(source, trust_remote_code=trust_remote_code)
            encoded[key] = (loaded, encode_file(data, loaded, data_format, limit=limit))
        loaded, examples = encoded[key]
        summaries.append(probe_checkpoint(
            checkpoint, examples, run.probe_dir(step, dataset), run=run.name, step=step, tokenizer=loaded,
            base_model=manifest.base_model, trust_remote_code=trust_remote_code, **options))
    return summaries


def _refuse_vanished(run: runs.Run, steps: Sequence[int] | None) -> None:
    """A registered checkpoint whose link leads nowhere is an error, not a step silently skipped."""
    if not run.checkpoints_dir.is_dir():
        return
    for link in sorted(run.checkpoints_dir.glob("step-*")):
        if link.is_symlink() and not link.exists() and (steps is None or runs.step_of(link) in steps):
            raise ProbscopeError(f"{link}: links to {os.readlink(link)}, which no longer exists; register the "
                                 f"checkpoints' new location (probscope add-run {shlex.quote(run.name)} --method "
                                 f"{shlex.quote(run.read_manifest().method)} --checkpoints NEW_DIR "
                                 f"--runs {shlex.quote(str(run.root.parent))})")


def dataset_name(data: str | os.PathLike, training_data: str | None) -> str:
    """The data file's name without extension; DEFAULT_PROBE_DATASET for the run's own training data."""
    if training_data and Path(training_data).resolve() == Path(data).resolve():
        return runs.DEFAULT_PROBE_DATASET
    stem = Path(data).stem
    try:
        return runs.validate_run_name(stem)
    except ProbscopeError:
        raise ProbscopeError(f"{data}: the data file's name {stem!r} cannot name a dataset folder; "
                             "pass --dataset NAME") from None


def check_dataset_name(name: str) -> str:
    """A dataset name is one folder under RUN/probes: the rules of a run name."""
    try:
        return runs.validate_run_name(name)
    except ProbscopeError:
        raise ProbscopeError(f"--dataset {name!r}: use letters, digits and . _ + - only (one folder name, "
                             "e.g. gsm8k-test)") from None


def tokenizer_source(checkpoint: Path, manifest: runs.Manifest) -> str:
    """Where a checkpoint's tokenizer is: the checkpoint, else the manifest config's "tokenizer", else the
    base model (a LoRA adapter's tokenizer is usually its base's)."""
    if has_tokenizer(checkpoint):
        return str(checkpoint)
    named = manifest.config.get("tokenizer") or manifest.base_model
    if not named:
        raise ProbscopeError(f"{checkpoint}: holds no tokenizer and the run names none; pass --tokenizer PATH "
                             "(or register the run with probscope add-run --tokenizer)")
    return str(named)


def tokenizer_identity(source: str) -> str:
    """Same key for the same tokenizer: the content of a folder's tokenizer files, or a hub name."""
    path = Path(source)
    if not path.is_dir():
        return source
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file() and (file.name.startswith(("tokenizer", "special_tokens", "added_tokens", "vocab",
                                                     "merges", "chat_template"))):
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
