"""Runs: where every file of a run lives, how files are written, how resumable stages claim a directory.

layout.py: the run-directory layout (Run, Manifest, discover_runs, the file and folder names); atomic.py:
atomic writes (every file appears whole or not at all); plans.py: plan claiming (a resumed stage cannot mix
other inputs in); add.py: `probscope add-run`. Every stage builds on this package, which imports none of
them (`probscope check`, which reads every stage's files, is probscope/integrity.py).

    from probscope.runs import Run, discover_runs, write_text_atomic
"""

from __future__ import annotations

from probscope.runs.atomic import atomic_path, write_parquet_atomic, write_text_atomic
from probscope.runs.layout import (
    BUILTIN_DATA,
    CHECKPOINT_FILES,
    CHECKPOINTS,
    DEFAULT_PROBE_DATASET,
    DYNAMICS,
    DYNAMICS_PART_GLOB,
    EVAL_DONE,
    EVAL_PLAN,
    EVALS,
    MANIFEST,
    MANIFEST_VERSION,
    PROBE_DONE,
    PROBE_PLAN,
    PROBES,
    RUN_STATUSES,
    TRAINER_STATE,
    Manifest,
    Run,
    check_folder_name,
    code_version,
    discover_runs,
    is_checkpoint,
    manifest_from_json,
    runs_matching,
    step_dir_name,
    step_of,
    validate_run_name,
)
from probscope.runs.plans import claim_plan

__all__ = [
    "BUILTIN_DATA", "CHECKPOINT_FILES", "CHECKPOINTS", "DEFAULT_PROBE_DATASET", "DYNAMICS", "DYNAMICS_PART_GLOB",
    "EVAL_DONE", "EVAL_PLAN", "EVALS", "MANIFEST", "MANIFEST_VERSION", "PROBE_DONE", "PROBE_PLAN", "PROBES",
    "RUN_STATUSES", "TRAINER_STATE", "Manifest", "Run", "atomic_path", "check_folder_name", "claim_plan",
    "code_version", "discover_runs", "is_checkpoint", "manifest_from_json", "runs_matching", "step_dir_name",
    "step_of", "validate_run_name", "write_parquet_atomic", "write_text_atomic",
]
