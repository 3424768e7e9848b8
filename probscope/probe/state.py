"""A probe directory's state on disk: the plan claim, the finished shards and the completion marker.

    _PLAN.json          {"fingerprint": ...}: the inputs the directory is being probed with (runs.PROBE_PLAN)
    part-R-S.parquet    shard S, written atomically by rank R; present = done
    .summary-*-S.parquet  shard S's summary tables, written just before it; merged by rank 0 at the end into
    summary-*.parquet   the directory's summary tables (probscope.probe.summaries)
    _DONE.json          ProbeSummary as JSON, written last by rank 0 (runs.PROBE_DONE), listing every shard
                        and summary file with its rows, bytes and footer hash (what readers check: table.py)

A directory without the marker is unfinished and resumes shard by shard; one with it is finished, and a
rerun with the same inputs (same fingerprint) returns its summary without touching anything.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from probscope import runs, schema
from probscope.errors import ProbscopeError
from probscope.probe import table


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
    files: list[dict] = field(default_factory=list)   # per shard: name, rows, bytes, footer_sha256 (table.py)
    summaries: dict | None = None   # the summary tables' p edges and files, as `files` (summaries.py)
    summary_seconds: float = 0.0    # of `seconds`, spent writing the summaries
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
    """The completion marker as a ProbeSummary (fields this probscope does not know are left out)."""
    raw = table.read_marker_json(out_dir)
    known = {f.name for f in dataclasses.fields(ProbeSummary)} - {"out_dir", "already_done"}
    try:
        return ProbeSummary(out_dir=str(out_dir), **{k: v for k, v in (raw or {}).items() if k in known})
    except TypeError:
        raise ProbscopeError(f"{out_dir / runs.PROBE_DONE}: not a probe's completion marker (fields missing); "
                             f"delete {out_dir} to restart the probe") from None


def finished_summary(out_dir: Path, fingerprint: str) -> ProbeSummary | None:
    """The summary of a finished directory probed with the same inputs (its shards checked against the
    marker); None if unfinished. A marker from before shards were listed gets the list (migrated)."""
    if not (out_dir / runs.PROBE_DONE).is_file():
        return None
    files = table.verify_probe_table(out_dir)
    summary = read_marker(out_dir)
    if summary.fingerprint != fingerprint:
        raise ProbscopeError(f"{out_dir}: already holds a finished probe of other examples or options; "
                             "delete it or probe into another directory (with --run: another --dataset)")
    if not summary.files:
        summary.files = [table.shard_record(f) for f in files]
        mark_finished(summary)
    summary.already_done = True
    return summary


def claim(out_dir: Path, fingerprint: str, *, alone: bool) -> None:
    """Record the inputs of this probe; refuse to resume a directory started with different ones. `alone`
    (one process): temporary files a killed run left behind are removed (with several ranks they may be
    another rank's shard being written)."""
    require_output_dir(out_dir)
    plan_file = out_dir / runs.PROBE_PLAN
    if alone:
        for stale in out_dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    started = runs.claim_plan(plan_file, {"fingerprint": fingerprint}, "probe", required=("fingerprint",))
    if started is not None and started["fingerprint"] != fingerprint:
        raise ProbscopeError(f"{out_dir}: holds an unfinished probe of other examples or options; "
                             "delete it or choose another output directory")


def check_output_path(out_dir: Path) -> None:
    """Refuse an output path that is a file (before any work is done)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ProbscopeError(f"{out_dir}: is a file, not a directory; choose another output directory")


def require_output_dir(out_dir: Path) -> None:
    """`out_dir` exists as a directory afterwards, or a one-line error (a file is in the way)."""
    check_output_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProbscopeError(f"{out_dir}: cannot create the output directory ({e.strerror}); "
                             "choose another output directory") from None


def shard_done(out_dir: Path, index: int) -> bool:
    """Whether shard `index` was written (and reads as a probe shard: else a one-line error naming it)."""
    found = table.shard_files(out_dir, index)
    for file in found:
        table.check_shard(file, repair=f"delete {out_dir} to restart the probe")
    return bool(found)


def shard_records(out_dir: Path, n_shards: int) -> list[dict]:
    """The marker's record of every shard (table.shard_record); fails if a shard is missing."""
    records = []
    for index in range(n_shards):
        found = table.shard_files(out_dir, index)
        if not found:
            raise ProbscopeError(f"{out_dir}: shard {index} is missing after all ranks finished; rerun to complete it")
        records.append(table.shard_record(found[0]))
    return records
