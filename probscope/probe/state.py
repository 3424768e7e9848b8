"""A probe directory's state on disk: the plan claim, the finished shards and the completion marker.

    _PLAN.json          {"fingerprint": ...}: the inputs the directory is being probed with (runs.PROBE_PLAN)
    part-R-S.parquet    shard S, written atomically by rank R; present = done
    _DONE.json          ProbeSummary as JSON, written last by rank 0 (runs.PROBE_DONE)

A directory without the marker is unfinished and resumes shard by shard; one with it is finished, and a
rerun with the same inputs (same fingerprint) returns its summary without touching anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from probscope import runs, schema
from probscope.errors import ProbscopeError
from probscope.probe.table import shard_files


@dataclass
class ProbeSummary:
    """What a finished probe directory holds; stored as the completion marker's JSON."""

    out_dir: str
    run: str
    step: int
    model: str | None
    examples: int                 # examples probed (after dropping over-long ones)
    tokens: int                   # rows written (target tokens)
    shards: int
    truncated: int = 0            # examples cut to the model's context
    dropped: int = 0              # examples longer than the context, left out (overflow="drop")
    no_targets: int = 0           # examples without any target token (nothing to probe)
    world_size: int = 1
    seconds: float = 0.0          # wall time of the run that finished the directory
    schema_version: int = schema.SCHEMA_VERSION
    fingerprint: str = ""
    already_done: bool = field(default=False, compare=False)

    def line(self) -> str:
        verb = "already probed" if self.already_done else "probed"
        rate = f", {self.tokens / self.seconds:,.0f} tok/s" if self.seconds and not self.already_done else ""
        notes = [f"{n} {what}" for n, what in ((self.truncated, "truncated"), (self.dropped, "dropped (too long)"),
                                               (self.no_targets, "without targets")) if n]
        extra = f" ({', '.join(notes)})" if notes else ""
        return (f"{verb} {self.tokens:,} tokens of {self.examples:,} examples{extra} for {self.run} step {self.step}"
                f" in {self.seconds:.1f} s{rate} -> {self.out_dir}")


def mark_finished(summary: ProbeSummary) -> None:
    fields = {k: v for k, v in asdict(summary).items() if k not in ("out_dir", "already_done")}
    runs.write_text_atomic(Path(summary.out_dir) / runs.PROBE_DONE, json.dumps(fields, indent=2))


def read_marker(out_dir: Path) -> ProbeSummary:
    return ProbeSummary(out_dir=str(out_dir), **json.loads((out_dir / runs.PROBE_DONE).read_text()))


def finished_summary(out_dir: Path, fingerprint: str) -> ProbeSummary | None:
    """The summary of a finished directory probed with the same inputs; None if unfinished."""
    if not (out_dir / runs.PROBE_DONE).is_file():
        return None
    summary = read_marker(out_dir)
    if summary.fingerprint != fingerprint:
        raise ProbscopeError(f"{out_dir}: already holds a finished probe of other examples or options; "
                             "delete it or choose another output directory")
    summary.already_done = True
    return summary


def claim(out_dir: Path, fingerprint: str) -> None:
    """Record the inputs of this probe; refuse to resume a directory started with different ones."""
    plan_file = out_dir / runs.PROBE_PLAN
    if plan_file.is_file():
        started = json.loads(plan_file.read_text()).get("fingerprint")
        if started != fingerprint:
            raise ProbscopeError(f"{out_dir}: holds an unfinished probe of other examples or options; "
                                 "delete it or choose another output directory")
        return
    runs.write_text_atomic(plan_file, json.dumps({"fingerprint": fingerprint}))


def shard_done(out_dir: Path, index: int) -> bool:
    return bool(shard_files(out_dir, index))


def rows_written(out_dir: Path, n_shards: int) -> int:
    """Rows over all shards, from the Parquet footers; fails if a shard is missing."""
    import pyarrow.parquet as pq

    total = 0
    for index in range(n_shards):
        found = shard_files(out_dir, index)
        if not found:
            raise ProbscopeError(f"{out_dir}: shard {index} is missing after all ranks finished; rerun to complete it")
        total += pq.read_metadata(found[0]).num_rows
    return total
