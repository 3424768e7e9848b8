"""The run-directory layout: the one place that knows where every file of a run lives.

    <runs root>/                         e.g. ./runs (the built-in demo) or any directory you choose
      data/builtin/                      the built-in task's generated data and tokenizer (not a run)
      <run name>/
        manifest.json                    method, base model, data, config, seed, code version
        checkpoints/step-<N>/            Hugging Face `save_pretrained` directory (+ tokenizer)
        probes/<dataset>/step-<N>/       probe tables: part-*.parquet, one row per target token,
                                         _PLAN.json (what is probed), _DONE.json (finished)
        dynamics/                        per-logging-step gradient-weight statistics (Parquet parts)
        pair-evals/<name>/step-<N>.json  DPO's implicit reward on held-out preference pairs (evaluate/pairs.py)
        trainer/                         while unfinished: the trainer's newest state, to resume a killed run

A directory is a run exactly when it holds ``manifest.json``. Steps are zero-padded in directory
names so that they sort; parse them with :func:`step_of`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from probscope.errors import ProbscopeError
from probscope.runs.atomic import write_text_atomic

MANIFEST = "manifest.json"
CHECKPOINTS = "checkpoints"
PROBES = "probes"
DYNAMICS = "dynamics"
TRAINER_STATE = "trainer"
DYNAMICS_PART_GLOB = "part-*.parquet"
BUILTIN_DATA = Path("data") / "builtin"
DEFAULT_PROBE_DATASET = "train"
# A finished checkpoint folder holds one of these: a full model, or a PEFT (LoRA) adapter over its base.
CHECKPOINT_FILES = ("config.json", "adapter_config.json")
_STEP_DIR = re.compile(r"^step-(\d+)$")
# A run name is one directory name: no separators, no "..", nothing a shell or a URL would mangle.
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
MANIFEST_VERSION = 1   # bump when Manifest changes; read_manifest migrates older manifests and refuses newer ones
RUN_STATUSES = ("running", "finished")


def validate_run_name(name: str) -> str:
    """`name` if it is a plain directory name; otherwise a one-line error (it would write outside the runs root)."""
    if not isinstance(name, str) or not _RUN_NAME.match(name) or name in (".", ".."):
        raise ProbscopeError(f"run name {name!r}: use letters, digits and . _ + - only (at most 100 characters, "
                             "no path separators), e.g. dft-lr1e-4")
    return name


def check_folder_name(name: str, what: str = "run") -> str:
    """`name` if it can name an existing folder directly under another (a run, a dataset or an evaluation as found
    on disk: one renamed by hand may hold spaces or [ ] * ?); a one-line error for a path that would leave it."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\0" in name:
        raise ProbscopeError(f"{what} {name!r}: not a folder name (one folder, no path separators)")
    return name


def runs_matching(names: Sequence[str], pattern: str) -> list[str]:
    """The run (folder) names a --runs-filter part chooses: the run it names exactly, else those its shell pattern
    matches (a folder named `sft[lr=1e-4]` is chosen by its name, which as a pattern would match `sftl` instead)."""
    return [pattern] if pattern in names else [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def step_of(path: Path) -> int:
    m = _STEP_DIR.match(Path(path).name)
    if not m:
        raise ProbscopeError(f"{path}: not a step directory (expected a name like step-000100)")
    return int(m.group(1))


@dataclass
class Manifest:
    """What a run is. Written once when the run starts; `status` is updated when it ends."""

    name: str
    method: str                      # objective / algorithm: base, sft, dft, dpo, ...
    base_model: str | None = None    # path or hub name of the starting model (None: trained from scratch)
    data: str | None = None          # training data file
    seed: int | None = None          # None: unknown (checkpoints registered with add-run)
    config: dict[str, Any] = field(default_factory=dict)   # the full training config, as plain data
    code_version: str = ""           # probscope version + git commit of the code that trained it
    status: str = "running"          # running | finished
    schema_version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False, default=str)


def manifest_from_json(raw: Any, path: Path) -> Manifest:
    """A Manifest from parsed JSON, each problem a one-line error naming `path` and the field."""
    import difflib
    from dataclasses import fields

    if not isinstance(raw, dict):
        raise ProbscopeError(f"{path}: a manifest is a JSON object, found {type(raw).__name__}")
    version = raw.get("schema_version", 1)     # manifests written before versioning are version 1
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise ProbscopeError(f"{path}: schema_version {version!r} is newer than this probscope reads "
                             f"({MANIFEST_VERSION}): upgrade probscope")
    known = [f.name for f in fields(Manifest)]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProbscopeError(f"{path}: unknown field {key!r}{hint}; fields: {', '.join(known)}")
    for key in ("name", "method"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ProbscopeError(f"{path}: field {key!r} must be a non-empty string, found {raw.get(key)!r}")
    if raw.get("status", "running") not in RUN_STATUSES:
        raise ProbscopeError(f"{path}: field 'status' must be one of {', '.join(RUN_STATUSES)}, "
                             f"found {raw.get('status')!r}")
    if not isinstance(raw.get("config", {}), dict):
        raise ProbscopeError(f"{path}: field 'config' must be a JSON object")
    return Manifest(**{**raw, "schema_version": MANIFEST_VERSION})


@dataclass(frozen=True)
class Run:
    """A run directory and the paths inside it."""

    root: Path

    @classmethod
    def in_root(cls, runs_root: str | os.PathLike, name: str) -> Run:
        """The run `name` under `runs_root`, refusing names that would leave it (e.g. '../x')."""
        return cls(Path(runs_root) / validate_run_name(name))

    @classmethod
    def named(cls, runs_root: str | os.PathLike, name: str) -> Run:
        """The existing run `name` under `runs_root`, as discover_runs lists it: any folder name (in_root's rules
        are for naming new runs; a run folder renamed by hand, e.g. `sft[lr=1e-4]`, is still read)."""
        return cls(Path(runs_root) / check_folder_name(name))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def dynamics_dir(self) -> Path:
        return self.root / DYNAMICS

    @staticmethod
    def dynamics_part_name(first_step: int, last_step: int) -> str:
        """One flush of the dynamics table: the logged steps it holds, zero-padded so names sort."""
        return f"part-{first_step:09d}-{last_step:09d}.parquet"

    @property
    def trainer_state_dir(self) -> Path:
        return self.root / TRAINER_STATE

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints_dir / step_dir_name(step)

    def probe_dir(self, step: int, dataset: str = DEFAULT_PROBE_DATASET) -> Path:
        return self.root / PROBES / dataset / step_dir_name(step)

    def read_manifest(self) -> Manifest:
        try:
            raw = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise ProbscopeError(f"{self.manifest_path}: missing; {self.root} is not a probscope run") from None
        except json.JSONDecodeError as e:
            raise ProbscopeError(f"{self.manifest_path}: line {e.lineno}: invalid JSON ({e.msg})") from None
        except UnicodeDecodeError as e:
            raise ProbscopeError(f"{self.manifest_path}: not UTF-8 text (byte {e.start}); not a manifest") from None
        return manifest_from_json(raw, self.manifest_path)

    def write_manifest(self, manifest: Manifest) -> None:
        write_text_atomic(self.manifest_path, manifest.to_json())

    def checkpoint_steps(self) -> list[int]:
        """Steps with a finished checkpoint (a directory holding a CHECKPOINT_FILES file), ascending."""
        if not self.checkpoints_dir.is_dir():
            return []
        return sorted(step_of(p) for p in self.checkpoints_dir.iterdir()
                      if _STEP_DIR.match(p.name) and is_checkpoint(p))

    def probed_steps(self, dataset: str = DEFAULT_PROBE_DATASET) -> list[int]:
        """Steps whose probe table for `dataset` is complete (holds the completion marker)."""
        return _finished_steps(self.root / PROBES / dataset, PROBE_DONE)

    def probe_datasets(self) -> list[str]:
        return _subdirectories(self.root / PROBES)

    # evals/<name>/step-<N>/: benchmark results (see EVALS below)
    def eval_dir(self, step: int, name: str) -> Path:
        return self.root / EVALS / name / step_dir_name(step)

    def evaluated_steps(self, name: str) -> list[int]:
        """Steps whose evaluation `name` is complete (holds the completion marker)."""
        return _finished_steps(self.root / EVALS / name, EVAL_DONE)

    def eval_names(self) -> list[str]:
        return _subdirectories(self.root / EVALS)

    # pair-evals/<name>/step-<N>.json: DPO's implicit reward on held-out pairs (probscope.evaluate.pairs)
    def pair_eval_file(self, step: int, name: str) -> Path:
        return self.root / PAIR_EVALS / validate_run_name(name) / f"{step_dir_name(step)}.json"


def _finished_steps(base: Path, marker: str) -> list[int]:
    """Steps of the step-N folders under `base` that hold `marker` (a stage's completion file), ascending."""
    if not base.is_dir():
        return []
    return sorted(step_of(p) for p in base.iterdir() if _STEP_DIR.match(p.name) and (p / marker).is_file())


def _subdirectories(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


PROBE_DONE = "_DONE.json"   # written last, atomically: a probe directory without it is unfinished
PROBE_PLAN = "_PLAN.json"   # written first: what is being probed, so a resume cannot mix other examples in


def is_checkpoint(path: Path) -> bool:
    """A finished model (or adapter) folder: save_pretrained writes the config last, into a renamed folder."""
    return path.is_dir() and any((path / name).is_file() for name in CHECKPOINT_FILES)


def discover_runs(root: str | os.PathLike) -> list[Run]:
    """All runs directly under `root`, sorted by name. Raises a one-line error if `root` is unusable."""
    if not isinstance(root, (str, os.PathLike)):
        raise ProbscopeError(f"runs directory: expected a path, found {root!r}")
    root = Path(root)
    if not root.exists():
        raise ProbscopeError(f"{root}: runs directory does not exist "
                             "(build the demo runs with `probscope demo --no-serve`)")
    if not root.is_dir():
        raise ProbscopeError(f"{root}: not a directory")
    if (root / MANIFEST).is_file():       # the user pointed at a single run
        return [Run(root)]
    runs = sorted((Run(p) for p in root.iterdir() if (p / MANIFEST).is_file()), key=lambda r: r.name)
    if not runs:
        raise ProbscopeError(f"{root}: no runs found (no sub-directory holds {MANIFEST}); "
                             "build some with `probscope demo --no-serve`")
    return runs


# Evaluations: <run>/evals/<name>/step-<N>/ holds part-<shard>.parquet (one row per generated sample), the
# plan (benchmark, settings: a resume cannot mix other settings in) and, last, the completion marker with the
# checkpoint's summary. <name> is the benchmark's name unless the user names the evaluation.
EVALS = "evals"
EVAL_DONE = PROBE_DONE
EVAL_PLAN = PROBE_PLAN
PAIR_EVALS = "pair-evals"


def code_version() -> str:
    """probscope's version plus the git commit it runs from, when there is one."""
    from probscope import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__
