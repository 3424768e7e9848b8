"""Checkpoints trained elsewhere (TRL, verl, LLaMA-Factory, ...) as a probscope run, without copying them.

    probscope add-run dft-numina --method dft --checkpoints "/ckpts/dft/checkpoint-*" --base Qwen/Qwen2.5-Math-1.5B
    probscope probe --run runs/dft-numina --data numina.jsonl      # probes every checkpoint not probed yet

    probscope add-run base --method base --checkpoints /models/Qwen2.5-Math-1.5B --step 0   # one folder, step 0

Each checkpoint folder becomes `<run>/checkpoints/step-N` as a symbolic link; N is the number that ends the
folder's name (`checkpoint-500`, `global_step500`, `step-000500`, `iter_0000500` -> 500), or --step for one
folder. The manifest says where they came from (nothing it does not know: no seed) and is marked finished
(nothing of this run is still training here); checkpoints TRL's SFTTrainer wrote are recorded as such, so
that probes tokenize the data exactly as it did (probscope.data.trl_parity).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.runs import Manifest, Run, code_version, is_checkpoint
from probscope.runs.provenance import TOKENIZATIONS, written_by_trl_sft
from probscope.runs.writable import check_directory

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def checkpoint_folders(spec: str | os.PathLike, step: int | None = None) -> dict[int, Path]:
    """step -> checkpoint folder, from a folder of checkpoints, one checkpoint folder, or a glob pattern; with
    `step`, `spec` is one model folder (a base model, a final model) registered at that step."""
    spec = str(spec)
    path = Path(spec)
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ProbscopeError(f"--step {step!r}: a step is a whole number >= 0")
        if not is_checkpoint(path):
            raise ProbscopeError(f"{spec}: --step registers one model folder (holding config.json, or "
                                 "adapter_config.json for LoRA); this is not one")
        return {step: path.resolve()}
    if any(ch in spec for ch in "*?[") and not path.exists():   # a folder named `sft[lr=1e-4]` is itself
        candidates = [Path(p) for p in sorted(glob.glob(spec))]
        if not candidates:
            raise ProbscopeError(f"{spec}: no folder matches this pattern")
    elif not path.exists():
        raise ProbscopeError(f"{spec}: does not exist")
    elif is_checkpoint(path):
        candidates = [path]
    elif not path.is_dir():
        raise ProbscopeError(f"{spec}: a file, not a folder of checkpoints")
    else:
        candidates = sorted(p for p in path.iterdir() if p.is_dir())
    folders = [p for p in candidates if is_checkpoint(p)]
    if not folders:
        raise ProbscopeError(f"{spec}: no checkpoint folder found (a checkpoint holds config.json, "
                             "or adapter_config.json for a LoRA adapter)")
    steps: dict[int, Path] = {}
    for folder in folders:
        match = _TRAILING_NUMBER.search(folder.name)
        if not match:
            raise ProbscopeError(f"{folder}: cannot tell its step: the folder name should end with the step "
                                 "number (e.g. checkpoint-500); pass --step N to register this one folder")
        found = int(match.group(1))
        if found in steps:
            raise ProbscopeError(f"{folder} and {steps[found]} both name step {found}")
        steps[found] = folder.resolve()
    return dict(sorted(steps.items()))


def add_run(runs_root: str | os.PathLike, name: str, *, method: str, checkpoints: str | os.PathLike,
            base: str | None = None, data: str | None = None, tokenizer: str | None = None,
            step: int | None = None, tokenization: str | None = None, extend: bool = False) -> Run:
    """Register checkpoints as the run `name` (links, not copies). Adding checkpoints from the folder the run
    came from is allowed; from another folder only with `extend`. A link whose checkpoint vanished is replaced
    (the checkpoint moved). `tokenization` (probscope or trl) is how probes tokenize; default: trl when TRL's
    SFTTrainer wrote every checkpoint, else unrecorded (probscope's own)."""
    if not method or not isinstance(method, str):
        raise ProbscopeError("--method is required (e.g. sft, dft, dpo: the run's label in figures)")
    if tokenization not in (None, *TOKENIZATIONS):
        raise ProbscopeError(f"--tokenization {tokenization!r}: use one of {', '.join(TOKENIZATIONS)}")
    run = Run.in_root(check_directory(runs_root, "--runs"), name)
    steps = checkpoint_folders(checkpoints, step)
    sources = [str(checkpoints)]
    config: dict = {}
    if run.manifest_path.is_file():
        existing = run.read_manifest()
        if existing.method != method:
            raise ProbscopeError(f"{run.root}: already a run with method {existing.method!r}, not {method!r}; "
                                 "choose another name")
        config = dict(existing.config)
        sources = _sources(run, config, steps, extend) + sources
        base, data = base or existing.base_model, data or existing.data   # what was recorded stays unless given
    run.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    for found, folder in steps.items():
        link = run.checkpoint(found)
        if link.is_symlink() and not link.exists():   # its checkpoint moved: follow it to the new place
            link.unlink()
        if link.is_symlink() or link.exists():
            if link.resolve() != folder:
                raise ProbscopeError(f"{link}: already holds step {found} from {link.resolve()}, not {folder}")
            continue
        os.symlink(folder, link, target_is_directory=True)
    if tokenization is None and all(written_by_trl_sft(folder) for folder in steps.values()):
        tokenization = "trl"
    config.update({"added_from": list(dict.fromkeys(sources)), **({"tokenizer": tokenizer} if tokenizer else {}),
                   **({"tokenization": tokenization} if tokenization else {})})
    manifest = Manifest(name=run.name, method=method, base_model=base, data=data, code_version=code_version(),
                        status="finished", config=config)
    run.write_manifest(manifest)
    return run


def _sources(run: Run, config: dict, steps: dict[int, Path], extend: bool) -> list[str]:
    """Where the run's checkpoints were added from so far; refuses checkpoints from another folder than its
    live links unless `extend` (two trainings merged by a typo would be one run). Links to checkpoints that
    no longer exist do not count: those checkpoints moved, and are being registered again."""
    recorded = config.get("added_from") or []
    recorded = [recorded] if isinstance(recorded, str) else list(recorded)
    linked = {link.resolve().parent for link in run.checkpoints_dir.glob("step-*") if link.exists()}
    new = {folder.parent for folder in steps.values()}
    if linked and not new <= linked and not extend:
        raise ProbscopeError(f"{run.root}: already a run of checkpoints from {', '.join(sorted(map(str, linked)))}; "
                             f"these come from {', '.join(sorted(map(str, new)))}: choose another name, or pass "
                             "--extend to add them to this run")
    return recorded
