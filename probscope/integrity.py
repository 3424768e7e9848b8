"""`probscope check RUNS_DIR`: what in a runs directory is missing, stale, half-written or corrupt, and the fix.

    probscope check runs          # one line per finding; exit status 1 when there is any
    ps.check_runs("runs")         # the same as a list of Finding

Reads only file headers and footers (manifests, safetensors headers, Parquet footers, markers), so it takes
seconds on a directory of large checkpoints. It reads what every stage wrote (checkpoints, probe tables,
evaluations), so it sits above the stages rather than in runs/, which they all build on.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.runs import (
    CHECKPOINTS,
    MANIFEST,
    PROBE_DONE,
    PROBES,
    Run,
    is_checkpoint,
    step_dir_name,
    step_of,
)

KINDS = ("corrupt", "half-written", "stale", "missing", "unfinished")


@dataclass(frozen=True)
class Finding:
    kind: str       # one of KINDS
    path: Path      # the file or folder concerned
    problem: str    # what is wrong, in words
    fix: str        # what to do (a command where there is one)

    def line(self) -> str:
        return f"{self.kind:<12} {self.path}: {self.problem}. Fix: {self.fix}"


def check_runs(root: str | os.PathLike) -> list[Finding]:
    root = Path(root)
    if not root.is_dir():
        raise ProbscopeError(f"{root}: not a runs directory (it does not exist or is a file)")
    findings: list[Finding] = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if (path / MANIFEST).is_file():
            findings += check_run(Run(path))
        elif (path / CHECKPOINTS).is_dir():
            findings.append(Finding("missing", path / MANIFEST, "checkpoints without a manifest: not a run",
                                    f"probscope add-run {path.name} --method METHOD --checkpoints {path / CHECKPOINTS}"))
    return findings


def check_run(run: Run) -> list[Finding]:
    try:
        manifest = run.read_manifest()
    except ProbscopeError as e:
        return [Finding("corrupt", run.manifest_path, str(e).removeprefix(f"{run.manifest_path}: "),
                        f"repair the file, or delete {run.root} and rebuild the run")]
    findings = _check_training_state(run, manifest.status)
    findings += _check_checkpoints(run)
    findings += _check_probes(run, manifest.data)
    return findings


def _check_training_state(run: Run, status: str) -> list[Finding]:
    has_state = run.trainer_state_dir.is_dir()
    if status == "running":
        how = "resumes from its last saved state" if has_state else "restarts (no resumable state was saved)"
        return [Finding("unfinished", run.root, f"training did not finish; rerunning its recipe {how}",
                        "rerun the same `probscope train RECIPE.yaml ...` command (or --restart to start over)")]
    if has_state:
        return [Finding("stale", run.trainer_state_dir, "trainer state left behind by a finished run",
                        f"delete {run.trainer_state_dir}")]
    return []


def _check_checkpoints(run: Run) -> list[Finding]:
    findings = []
    if not run.checkpoints_dir.is_dir():
        return [Finding("missing", run.checkpoints_dir, "the run has no checkpoints folder",
                        "retrain the run, or add checkpoints with probscope add-run")]
    for path in sorted(run.checkpoints_dir.iterdir()):
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            findings.append(Finding("half-written", path, "a checkpoint whose writing was interrupted",
                                    f"delete {path}; rerun training to write it again"))
        elif path.is_symlink() and not path.exists():
            findings.append(Finding("missing", path, f"links to {os.readlink(path)}, which no longer exists",
                                    "probscope add-run again with the checkpoints' new location"))
        elif path.is_dir() and not is_checkpoint(path):
            findings.append(Finding("half-written", path, "no config.json: an interrupted or foreign folder",
                                    f"delete {path}"))
        elif is_checkpoint(path):
            problem = _weights_problem(path)
            if problem:
                findings.append(Finding("corrupt", path, problem, f"delete {path} and retrain, or restore it"))
    return findings


def _weights_problem(checkpoint: Path) -> str | None:
    """Why the checkpoint's weights cannot be loaded, from file headers alone; None when they look whole."""
    shards = sorted(checkpoint.glob("*.safetensors"))
    if not shards:
        others = list(checkpoint.glob("*.bin")) + list(checkpoint.glob("*.pt"))
        return None if others else "no weights file (*.safetensors or *.bin)"
    for shard in shards:
        size = shard.stat().st_size
        try:
            with shard.open("rb") as f:
                (header_len,) = struct.unpack("<Q", f.read(8))
                if header_len <= 0 or 8 + header_len > size:
                    return f"{shard.name} is truncated or not a safetensors file"
                header = json.loads(f.read(header_len))
        except (struct.error, ValueError, UnicodeDecodeError):
            return f"{shard.name} is truncated or not a safetensors file"
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        if 8 + header_len + end != size:
            return f"{shard.name} holds {size:,} bytes, its header describes {8 + header_len + end:,}: truncated"
    return None


def _check_probes(run: Run, train_data: str | None) -> list[Finding]:
    from probscope.probe.table import verify_probe_table

    findings = []
    checkpoints = set(run.checkpoint_steps())
    for dataset in run.probe_datasets():
        data_hint = train_data if dataset == "train" and train_data else "FILE"
        command = f"probscope probe --run {run.root} --data {data_hint} --dataset {dataset}"
        probed = set()
        for path in sorted((run.root / PROBES / dataset).iterdir()):
            try:
                step = step_of(path)
            except ProbscopeError:
                continue
            done = path / PROBE_DONE
            if not done.is_file():
                findings.append(Finding("half-written", path, "an interrupted probe (no completion marker)",
                                        f"{command}  (resumes from its finished shards)"))
                continue
            try:
                verify_probe_table(path)
            except ProbscopeError as e:
                findings.append(Finding("corrupt", path, str(e).removeprefix(f"{path}: "),
                                        f"delete {path}, then {command}"))
                continue
            probed.add(step)
            checkpoint = run.checkpoint(step)
            if step in checkpoints and _newest_mtime(checkpoint) > done.stat().st_mtime:
                findings.append(Finding("stale", path, f"probed before {step_dir_name(step)} was rewritten",
                                        f"delete {path}, then {command}"))
        missing = sorted(checkpoints - probed)
        if missing:
            findings.append(Finding("missing", run.root / PROBES / dataset,
                                    f"checkpoints not probed on '{dataset}': steps {', '.join(map(str, missing))}",
                                    command))
    return findings


def _newest_mtime(checkpoint: Path) -> float:
    return max((p.stat().st_mtime for p in checkpoint.iterdir() if p.is_file()), default=0.0)
