"""What a runs directory holds: one row per run from its manifest, and a fingerprint of its probe tables.

    import probscope as ps
    ps.runs_overview("runs")       # run, manifest fields (method, status, ...), checkpoints, probed steps

The dashboard keys its caches on `probe_signature`, so a re-probed step is re-read and nothing else is.
`find_runs` is the one lookup of runs by name (one error text for an unknown name).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError
from probscope.runs import PROBE_DONE, Run, discover_runs

Signature = tuple[tuple[str, int], ...]


def find_runs(runs_root: str | os.PathLike, names: Sequence[str] | None = None) -> list[Run]:
    """The runs under `runs_root` (sorted by name), or the named ones in the order given."""
    found = discover_runs(runs_root)
    if names is None:
        return found
    by_name = {run.name: run for run in found}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        close = sorted({c for name in unknown for c in difflib.get_close_matches(name, list(by_name), n=2)})
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ProbscopeError(f"{runs_root}: no run named {', '.join(unknown)} (runs: {', '.join(by_name)}){hint}")
    return [by_name[name] for name in names]


def file_signature(paths: Iterable[str | os.PathLike]) -> Signature:
    """(path, modification time in ns) of each file: a cache key that changes when any file is rewritten.

    probscope renames every file into place (runs.atomic_path), so a new mtime means new content.
    """
    return tuple((str(path), Path(path).stat().st_mtime_ns) for path in paths)


def runs_overview(runs_root: str | os.PathLike) -> pl.DataFrame:
    """One row per run: manifest fields, checkpoint steps, and finished probe steps per dataset."""
    rows = []
    for run in discover_runs(runs_root):
        manifest = asdict(run.read_manifest())
        del manifest["name"], manifest["config"]      # the directory name is the run; config is nested
        probed = {dataset: run.probed_steps(dataset) for dataset in run.probe_datasets()}
        rows.append({
            schema.RUN: run.name,
            **manifest,
            "checkpoints": run.checkpoint_steps(),
            "probed": "; ".join(f"{dataset}: {', '.join(map(str, steps)) or '-'}" for dataset, steps in probed.items()),
            "path": str(run.root),
        })
    return pl.DataFrame(rows, schema_overrides={"checkpoints": pl.List(pl.Int64)})


def probe_signature(runs_root: str | os.PathLike, steps: Mapping[str, int], dataset: str) -> Signature:
    """`file_signature` of each chosen probe table's completion marker and run manifest.

    Equal signatures mean the same finished tables: a probe rewrites its marker last, atomically.
    """
    paths = []
    for name, step in sorted(steps.items()):
        (run,) = find_runs(runs_root, [name])
        paths += [run.manifest_path, run.probe_dir(step, dataset) / PROBE_DONE]
    return file_signature(paths)
