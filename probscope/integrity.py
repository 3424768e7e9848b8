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
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.runs import (
    CHECKPOINTS,
    EVAL_DONE,
    EVAL_PLAN,
    EVALS,
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
    if not isinstance(root, (str, os.PathLike)):
        raise ProbscopeError(f"runs directory: expected a path, found {root!r}")
    root = Path(root)
    if not root.is_dir():
        raise ProbscopeError(f"{root}: not a runs directory (it does not exist or is a file)")
    findings: list[Finding] = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if (path / MANIFEST).is_file():
            findings += check_run(Run(path))
        elif (path / CHECKPOINTS).is_dir():
            findings.append(Finding("missing", path / MANIFEST, "checkpoints without a manifest: not a run",
                                    f"probscope add-run {_quoted(path.name)} --method METHOD "
                                    f"--checkpoints {_quoted(path / CHECKPOINTS)}"))
    return findings


def check_run(run: Run) -> list[Finding]:
    try:
        manifest = run.read_manifest()
    except (ProbscopeError, UnicodeDecodeError) as e:
        problem = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else \
            str(e).removeprefix(f"{run.manifest_path}: ")
        return [Finding("corrupt", run.manifest_path, problem,
                        f"repair the file, or delete {run.root} and rebuild the run")]
    findings = _check_training_state(run, manifest.status)
    findings += _check_checkpoints(run, manifest.method)
    findings += _check_probes(run, manifest.data)
    findings += _check_evals(run)
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


def _check_checkpoints(run: Run, method: str) -> list[Finding]:
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
                                    f"probscope add-run {_quoted(run.name)} --method {_quoted(method)} "
                                    f"--checkpoints NEW_LOCATION --runs {_quoted(run.root.parent)}"))
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
    if checkpoints and not run.probe_datasets():
        findings.append(Finding("missing", run.root / PROBES, "a run whose checkpoints were never probed",
                                f"probscope probe --run {_quoted(run.root)} "
                                f"--data {_quoted(train_data) if train_data else 'FILE'}"))
    for dataset in run.probe_datasets():
        data_hint = _quoted(train_data) if dataset == "train" and train_data else "FILE"
        command = f"probscope probe --run {_quoted(run.root)} --data {data_hint} --dataset {_quoted(dataset)}"
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


def _check_evals(run: Run) -> list[Finding]:
    """Each evaluation folder: finished (a readable summary) with all its shards whole, else the fix."""
    findings = []
    for name in run.eval_names():
        for path in sorted((run.root / EVALS / name).iterdir()):
            try:
                step_of(path)
            except ProbscopeError:
                continue
            command = f"probscope eval --runs {_quoted(run.root.parent)} --runs-filter {_quoted(run.name)} " \
                      f"--steps {step_of(path)} --benchmark {_quoted(_benchmark(path))} --name {_quoted(name)}"
            problem = _eval_problem(path)
            if problem is not None:
                kind, what = problem
                fix = command if kind == "half-written" else f"delete {path / EVAL_DONE}, then {command}"
                findings.append(Finding(kind, path, what, fix + "  (finished shards are kept)"))
    return findings


def _eval_problem(path: Path) -> tuple[str, str] | None:
    """(kind, problem) of an evaluation folder, or None when it is finished and whole."""
    import pyarrow.parquet as pq

    done = path / EVAL_DONE
    if not done.is_file():
        return "half-written", "an interrupted evaluation (no completion marker)"
    try:
        summary = json.loads(done.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "corrupt", f"{EVAL_DONE} is not valid JSON"
    if not isinstance(summary, dict):
        return "corrupt", f"{EVAL_DONE} is not an evaluation summary (a JSON object)"
    parts = sorted(path.glob("part-*.parquet"))
    if not parts:
        return "corrupt", "no shard (part-*.parquet) beside its summary"
    problems, shard_size = summary.get("problems"), summary.get("shard_size")
    if isinstance(problems, int) and isinstance(shard_size, int) and shard_size > 0:   # older summaries lack it
        expected = -(-problems // shard_size)
        if len(parts) != expected:
            return "corrupt", f"{len(parts)} of {expected} shards present"
    for part in parts:
        try:
            pq.read_metadata(part)
        except Exception:   # pyarrow raises several types for a damaged footer
            return "corrupt", f"{part.name} is truncated or not a Parquet file"
    return None


def _benchmark(path: Path) -> str:
    """The benchmark an evaluation folder was started with (its plan), else a placeholder."""
    try:
        plan = json.loads((path / EVAL_PLAN).read_text(encoding="utf-8"))
        return str(plan["benchmark"]) if isinstance(plan, dict) and "benchmark" in plan else "BENCHMARK"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "BENCHMARK"


def _newest_mtime(checkpoint: Path) -> float:
    return max((p.stat().st_mtime for p in checkpoint.iterdir() if p.is_file()), default=0.0)


def _quoted(word: str | os.PathLike) -> str:
    """A path or name as a shell word: a fix command pasted into a shell must not split `runs 2/` or expand
    `sft[lr=1e-4]` as a pattern (a plain word is left as it is)."""
    return shlex.quote(str(word))
