"""Summary tables of a probe directory: what Figure 2, the listings and the bootstrap need, without the rows.

    from probscope.probe.summaries import summarize, read_summary
    summarize("runs/sft/probes/train/step-000100")                 # an older directory gets its summaries
    read_summary(probe_dir, "tokens")                               # polars DataFrame, checked against _DONE.json

Three tables, written beside the shards from the same frames (one per shard while probing, merged by rank 0
when the directory is finished) and vouched for by the completion marker ("summaries": name, rows, bytes,
footer hash of each file, and the p edges they count by):

    summary-cells.parquet      one row per (cell, is_top1): count, sum_p, sum_logp, sum_entropy (Figure 2 per run
                               and step in a few rows)
    summary-tokens.parquet     one row per (token_id, token, role, cell, is_top1): the same sums.
                               `cell` indexes the p cells cut at `edges` (schema.BIN_EDGES' inner edges plus any
                               a user asked for; left-closed like the Figure-2 bins), so every Figure-2 bin, every
                               lowest-bin listing and every role share at an edge is a sum over this table.
    summary-examples.parquet   one row per example: count, last_token and last_p (its last target token, the end
                               of the reply), sum_p1..sum_p4 (moments), bins (Figure-2 bin counts) and grid
                               (counts on GRID_LOGP_EDGES, a fixed log-p grid): the example-level bootstrap's
                               sufficient statistics (probscope.analysis.stats).

Roles are stored as the data gave them (null where it gave none); readers fill them with token classes,
as they do for rows. A directory finished before summaries existed gets them with `summarize` (or the
`probscope summarize` command), once, atomically; readers fall back to the rows meanwhile.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, overload

import numpy as np
import polars as pl

from probscope import runs, schema
from probscope.errors import ProbscopeError
from probscope.probe import table

TABLES = ("cells", "tokens", "examples")
CELL, COUNT, SUM_P, SUM_LOGP, SUM_ENTROPY = "cell", "count", "sum_p", "sum_logp", "sum_entropy"
SUMS = (COUNT, SUM_P, SUM_LOGP, SUM_ENTROPY)
MOMENTS = tuple(f"sum_p{k}" for k in range(1, 5))   # Σp, Σp², Σp³, Σp⁴ of an example's tokens
BINS, GRID = "bins", "grid"
LAST_TOKEN, LAST_P = "last_token", "last_p"   # an example's last target token and its p
FIGURE2_INNER = np.asarray(schema.BIN_EDGES[1:-1])
# Fixed log-p cell edges for the bootstrap: |log p| geometric from 1e-6 (p within 1e-6 of 1) to 50 (p ~ 2e-22),
# fine at both ends of Figure 2's axis. Data-independent, so the cells of two checkpoints add up.
GRID_LOGP_EDGES = np.concatenate([-np.geomspace(50.0, 1e-6, 127), [0.0]])
_PER_SHARD = ("tokens", "examples")
_ROW_GROUP = 16_384
_EDGES_KEY = "probscope.summary_edges"
_KEYS = (schema.TOKEN_ID, schema.TOKEN, schema.ROLE, CELL, schema.IS_TOP1)


def summary_name(kind: str, shard: int | None = None) -> str:
    """File of a summary table: the directory's merged one, or shard `shard`'s (removed once merged)."""
    return f"summary-{kind}.parquet" if shard is None else f".summary-{kind}-{shard:06d}.parquet"


def cell_edges(extra: Sequence[float] = ()) -> np.ndarray:
    """Inner p edges of the summary cells: Figure 2's plus `extra` (each in (0, 1)), sorted, distinct."""
    for edge in extra:
        if not 0.0 < float(edge) < 1.0:
            raise ProbscopeError(f"--summary-bins: {edge!r} is not a p edge strictly between 0 and 1")
    return np.unique(np.concatenate([FIGURE2_INNER, np.asarray(extra, dtype=np.float64)]))


def summarize_frame(frame: pl.DataFrame, edges: np.ndarray) -> dict[str, pl.DataFrame]:
    """The per-token and per-example summary tables of one frame of probe rows (schema.TOKEN_COLUMNS); the
    cells table is summed from the merged per-token one."""
    p = frame[schema.P].to_numpy()
    cells = pl.Series(CELL, np.searchsorted(edges, p, side="right").astype(np.int16))
    # grouped by token id, not string (a token id has one string): hashing integers keeps this a few % of a probe
    tokens = (frame.select(*_KEYS[:3], cells, schema.IS_TOP1, schema.P, schema.LOGP, schema.ENTROPY)
              .group_by(schema.TOKEN_ID, schema.ROLE, CELL, schema.IS_TOP1)
              .agg(pl.col(schema.TOKEN).first(), pl.len().cast(pl.Int64).alias(COUNT),
                   pl.col(schema.P).sum().alias(SUM_P), pl.col(schema.LOGP).sum().alias(SUM_LOGP),
                   pl.col(schema.ENTROPY).cast(pl.Float64).sum().alias(SUM_ENTROPY))
              .select(*_KEYS, *SUMS))
    return {"tokens": tokens, "examples": _examples(frame, p)}


def _cells(tokens: pl.DataFrame) -> pl.DataFrame:
    return tokens.group_by(CELL, schema.IS_TOP1).agg(pl.col(SUMS).sum()).sort(CELL, schema.IS_TOP1)


def _examples(frame: pl.DataFrame, p: np.ndarray) -> pl.DataFrame:
    example_ids = frame[schema.EXAMPLE_ID]
    ids = example_ids.unique().sort()
    ix = (example_ids.rank("dense") - 1).to_numpy().astype(np.int64)   # index into the sorted ids
    n = len(ids)
    bins = np.searchsorted(FIGURE2_INNER, p, side="right")
    grid = np.clip(np.searchsorted(GRID_LOGP_EDGES, frame[schema.LOGP].to_numpy(), side="right") - 1,
                   0, len(GRID_LOGP_EDGES) - 2)
    # each example's last target token (its highest position): the end of the reply (analysis/left_behind.py)
    position = frame[schema.POSITION].to_numpy()
    highest = np.full(n, -1, dtype=position.dtype)
    np.maximum.at(highest, ix, position)
    at_end = np.flatnonzero(position == highest[ix])   # one row per example: positions are distinct in one
    last = at_end[np.argsort(ix[at_end])]
    columns: dict[str, object] = {schema.EXAMPLE_ID: ids, COUNT: np.bincount(ix, minlength=n).astype(np.int64),
                                  LAST_TOKEN: frame[schema.TOKEN].gather(last), LAST_P: p[last]}
    for k, name in enumerate(MOMENTS, start=1):
        columns[name] = np.bincount(ix, weights=p**k, minlength=n)
    for name, cells, width in ((BINS, bins, len(FIGURE2_INNER) + 1), (GRID, grid, len(GRID_LOGP_EDGES) - 1)):
        counts = np.bincount(ix * width + cells, minlength=n * width).reshape(n, width).astype(np.int32)
        columns[name] = pl.Series(name, counts, dtype=pl.Array(pl.Int32, width))
    return pl.DataFrame(columns)


def write_shard_summaries(frame: pl.DataFrame, probe_dir: Path, shard: int, edges: np.ndarray) -> float:
    """Shard `shard`'s summary tables, atomically, before the shard itself (a written shard has its summaries);
    returns the seconds spent. The cells table is made when merging."""
    started = time.perf_counter()
    summaries = summarize_frame(frame, edges)
    for kind in _PER_SHARD:
        with runs.atomic_path(probe_dir / summary_name(kind, shard)) as tmp:
            summaries[kind].write_parquet(tmp, metadata={_EDGES_KEY: json.dumps(edges.tolist())})
    return time.perf_counter() - started


def merge_shard_summaries(probe_dir: Path, shard_files: Sequence[Path], edges: np.ndarray) -> dict:
    """The directory's summary tables from its shards' (computed again from the rows of a shard whose summaries
    are missing or count other cells: written by an older probscope, or a resume with other --summary-bins);
    returns the marker's "summaries" record."""
    parts: dict[str, list[pl.DataFrame]] = {kind: [] for kind in _PER_SHARD}
    for index, shard in enumerate(shard_files):
        files = {kind: probe_dir / summary_name(kind, index) for kind in _PER_SHARD}
        if all(_counts_by(file) == edges.tolist() for file in files.values()):
            for kind, file in files.items():
                parts[kind].append(pl.read_parquet(file, glob=False))
        else:
            summaries = summarize_frame(pl.read_parquet(shard, glob=False), edges)
            for kind in _PER_SHARD:
                parts[kind].append(summaries[kind])
    tokens = (pl.concat(parts["tokens"]).group_by(_KEYS).agg(pl.col(SUMS).sum())
              .sort(CELL, schema.TOKEN_ID, schema.ROLE, schema.IS_TOP1, nulls_last=True))
    examples = pl.concat(parts["examples"]).sort(schema.EXAMPLE_ID)
    merged = {"cells": _cells(tokens), "tokens": tokens, "examples": examples}
    records = []
    for kind, frame in merged.items():
        path = probe_dir / summary_name(kind)
        with runs.atomic_path(path) as tmp:
            # small row groups: a reader of a few cells (the lowest bin's listing) skips the others' groups
            frame.write_parquet(tmp, row_group_size=_ROW_GROUP)
        records.append(table.shard_record(path, rows=frame.height))
    return {"edges": [float(e) for e in edges], "files": records}


def _counts_by(file: Path) -> list[float] | None:
    """The cell edges a shard summary file was written with; None when it is missing or unreadable."""
    try:
        return json.loads(pl.read_parquet_metadata(file).get(_EDGES_KEY, "null"))
    except Exception:   # polars raises its own types for a missing or truncated file: recompute it
        return None


def remove_shard_summaries(probe_dir: Path) -> None:
    """The per-shard summaries, once the merged ones are vouched for by the marker."""
    for kind in _PER_SHARD:
        for file in probe_dir.glob(f".summary-{kind}-*.parquet"):
            file.unlink(missing_ok=True)


def summarize(probe_dir: str | os.PathLike, extra_edges: Sequence[float] = ()) -> dict:
    """Give a finished probe directory its summary tables (again, with `extra_edges`: other cells), reading
    its shards one at a time; the marker is rewritten atomically to vouch for them. Returns its record."""
    probe_dir = Path(probe_dir)
    shards = table.verify_probe_table(probe_dir)
    marker = table.read_marker_json(probe_dir)
    if marker is None:   # verify_probe_table just found it: only a concurrent removal gets here
        raise ProbscopeError(f"{probe_dir}: its {runs.PROBE_DONE} disappeared while summarizing; probe it again")
    record = merge_shard_summaries(probe_dir, shards, cell_edges(extra_edges))
    runs.write_text_atomic(probe_dir / runs.PROBE_DONE, json.dumps({**marker, "summaries": record}, indent=2))
    remove_shard_summaries(probe_dir)
    return record


def finished_probe_dirs(path: str | os.PathLike) -> list[Path]:
    """`path` itself when it is a finished probe directory, else every finished one of the runs under it."""
    path = Path(path)
    if (path / runs.PROBE_DONE).is_file():
        return [path]
    if not path.is_dir():
        raise ProbscopeError(f"{path}: not a probe directory or a runs directory")
    return [run.probe_dir(step, dataset) for run in runs.discover_runs(path)
            for dataset in run.probe_datasets() for step in run.probed_steps(dataset)]


def summarize_all(path: str | os.PathLike, extra_edges: Sequence[float] = (), *, progress: bool = True) -> int:
    """`summarize` every finished probe directory at `path` (one, or a runs directory's) that lacks summaries
    (with `extra_edges`: every one, counting those cells too); returns how many were summarized."""
    from tqdm.auto import tqdm

    todo = [d for d in finished_probe_dirs(path) if extra_edges or summary_record(d) is None]
    for probe_dir in tqdm(todo, desc="summarize", unit="dir", disable=not progress):
        summarize(probe_dir, extra_edges)
    return len(todo)


def summary_record(probe_dir: Path) -> dict | None:
    """The marker's "summaries" record when every file it lists is there unchanged; None when the directory
    has none (finished before summaries existed) or they no longer match (then readers use the rows)."""
    marker = table.read_marker_json(probe_dir)
    record = (marker or {}).get("summaries")
    if not isinstance(record, dict) or not isinstance(record.get("files"), list):
        return None
    for entry in record["files"]:
        file = probe_dir / str(entry.get("name"))
        try:
            if file.stat().st_size != entry.get("bytes") or table.footer_sha256(file) != entry.get("footer_sha256"):
                return None
        except (OSError, ValueError):
            return None
    return record


@overload
def read_summary(probe_dir: str | os.PathLike, kind: str, *, lazy: Literal[False] = ...) -> pl.DataFrame: ...
@overload
def read_summary(probe_dir: str | os.PathLike, kind: str, *, lazy: Literal[True]) -> pl.LazyFrame: ...
@overload
def read_summary(probe_dir: str | os.PathLike, kind: str, *, lazy: bool) -> pl.DataFrame | pl.LazyFrame: ...
def read_summary(probe_dir: str | os.PathLike, kind: str, *, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """One summary table of a finished probe directory (after checking it against the marker)."""
    if kind not in TABLES:
        raise ProbscopeError(f"summary table {kind!r}: use one of {', '.join(TABLES)}")
    probe_dir = Path(probe_dir)
    if summary_record(probe_dir) is None:
        raise ProbscopeError(f"{probe_dir}: no summary tables vouched for by its {runs.PROBE_DONE}; "
                             f"run `probscope summarize {shlex.quote(str(probe_dir))}`")
    frame = pl.scan_parquet(probe_dir / summary_name(kind), glob=False)
    return frame if lazy else frame.collect()
