"""What a runs directory holds: one row per run from its manifest, and a fingerprint of its probe tables.

    import probscope as ps
    ps.runs_overview("runs")       # run, manifest fields (method, status, ...), checkpoints, probed steps

The dashboard keys its caches on `probe_signature`, so a re-probed step is re-read and nothing else is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict

import polars as pl

from probscope import schema
from probscope.runs import PROBE_DONE, discover_runs


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


def probe_signature(
    runs_root: str | os.PathLike, steps: Mapping[str, int], dataset: str
) -> tuple[tuple[str, int], ...]:
    """(path, modification time in ns) of each chosen probe table's completion marker and run manifest.

    Equal signatures mean the same finished tables: a probe rewrites its marker last, atomically.
    """
    runs = {run.name: run for run in discover_runs(runs_root)}
    paths = []
    for name, step in sorted(steps.items()):
        paths += [runs[name].manifest_path, runs[name].probe_dir(step, dataset) / PROBE_DONE]
    return tuple((str(path), path.stat().st_mtime_ns) for path in paths)
