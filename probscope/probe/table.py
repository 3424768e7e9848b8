"""Reading probe tables: the part-<rank>-<shard>.parquet files of a probe directory (no torch needed).

    from probscope.probe import read_probe_table, scan_probe_table
    tokens = read_probe_table("runs/sft/probes/train/step-000100")      # polars DataFrame
    scan_probe_table(probe_dir).select("p").collect()                   # reads only the p column
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError

_PART = re.compile(r"^part-(\d+)-(\d+)\.parquet$")


def part_name(rank: int, shard: int) -> str:
    """File of shard `shard` written by process `rank`; the shard index alone decides its rows."""
    return f"part-{rank:03d}-{shard:06d}.parquet"


def shard_files(probe_dir: Path, shard: int) -> list[Path]:
    """The file(s) holding one shard (any rank may have written it)."""
    return sorted(Path(probe_dir).glob(f"part-*-{shard:06d}.parquet"))


def scan_probe_table(path: str | os.PathLike) -> pl.LazyFrame:
    """A probe directory's rows (its part files in shard order), or one Parquet file's, as a LazyFrame:
    queries read only the columns and row groups they need. Every file's schema is checked first."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        parts = {p: _PART.match(p.name) for p in path.iterdir()}
        files = sorted((p for p, m in parts.items() if m), key=lambda p: int(parts[p].group(2)))
        if not files:
            raise ProbscopeError(f"{path}: no probe shards (part-*.parquet); probe a model into it with `probscope probe`")
    else:
        raise ProbscopeError(f"{path}: does not exist")
    expected = schema.token_schema()
    for file in files:
        found = pl.read_parquet_schema(file)
        if found != dict(expected):
            raise ProbscopeError(f"{file}: columns {list(found)} differ from probe schema "
                                 f"v{schema.SCHEMA_VERSION}; re-run `probscope probe` into a new directory")
    return pl.scan_parquet(files)


def read_probe_table(path: str | os.PathLike) -> pl.DataFrame:
    """All rows of a probe directory (its part files in shard order), or of one Parquet file."""
    return scan_probe_table(path).collect()
