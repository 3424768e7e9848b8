"""Checkpoints trained elsewhere (TRL, verl, LLaMA-Factory, ...) as a probscope run, without copying them.

    probscope add-run dft-numina --method dft --checkpoints "/ckpts/dft/checkpoint-*" --base Qwen/Qwen2.5-Math-1.5B
    probscope probe --run runs/dft-numina --data numina.jsonl      # probes every checkpoint not probed yet

Each checkpoint folder becomes `<run>/checkpoints/step-N` as a symbolic link; N is the number that ends the
folder's name (`checkpoint-500`, `global_step500`, `step-000500`, `iter_0000500` -> 500). The manifest says
where they came from and is marked finished (nothing of this run is still training here).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.runs import Manifest, Run, code_version, is_checkpoint

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def checkpoint_folders(spec: str | os.PathLike) -> dict[int, Path]:
    """step -> checkpoint folder, from a folder of checkpoints, one checkpoint folder, or a glob pattern."""
    spec = str(spec)
    path = Path(spec)
    if any(ch in spec for ch in "*?["):
        candidates = [Path(p) for p in sorted(glob.glob(spec))]
        if not candidates:
            raise ProbscopeError(f"{spec}: no folder matches this pattern")
    elif not path.exists():
        raise ProbscopeError(f"{spec}: does not exist")
    elif is_checkpoint(path):
        candidates = [path]
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
                                 "number (e.g. checkpoint-500); rename it or link it under such a name")
        step = int(match.group(1))
        if step in steps:
            raise ProbscopeError(f"{folder} and {steps[step]} both name step {step}")
        steps[step] = folder.resolve()
    return dict(sorted(steps.items()))


def add_run(runs_root: str | os.PathLike, name: str, *, method: str, checkpoints: str | os.PathLike,
            base: str | None = None, data: str | None = None, tokenizer: str | None = None) -> Run:
    """Register checkpoints as the run `name` (links, not copies); adding more checkpoints later is allowed."""
    if not method or not isinstance(method, str):
        raise ProbscopeError("--method is required (e.g. sft, dft, dpo: the run's label in figures)")
    run = Run.in_root(runs_root, name)
    steps = checkpoint_folders(checkpoints)
    if run.manifest_path.is_file():
        existing = run.read_manifest()
        if existing.method != method:
            raise ProbscopeError(f"{run.root}: already a run with method {existing.method!r}, not {method!r}; "
                                 "choose another name")
    run.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    for step, folder in steps.items():
        link = run.checkpoint(step)
        if link.is_symlink() or link.exists():
            if link.resolve() != folder:
                raise ProbscopeError(f"{link}: already holds step {step} from {link.resolve()}, not {folder}")
            continue
        os.symlink(folder, link, target_is_directory=True)
    manifest = Manifest(
        name=run.name, method=method, base_model=base, data=data, code_version=code_version(), status="finished",
        config={"added_from": str(checkpoints), **({"tokenizer": tokenizer} if tokenizer else {})},
    )
    run.write_manifest(manifest)
    return run
