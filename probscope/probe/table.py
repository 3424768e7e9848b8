"""Probe tables on disk: the part-<rank>-<shard>.parquet files of a probe directory, written, vouched for and
read back (no torch needed).

    from probscope.probe import read_probe_table, scan_probe_table
    tokens = read_probe_table("runs/sft/probes/train/step-000100")      # polars DataFrame
    scan_probe_table(probe_dir).select("p").collect()                   # reads only the p column

A finished directory holds the completion marker (runs.PROBE_DONE), which vouches for the table: it lists
every shard file with its row count, byte size and the SHA-256 of its Parquet footer (the footer holds the
row groups' offsets, sizes and statistics, so a rewritten or replaced shard changes it; checking it costs
one small read per shard). Readers check the directory against the marker before reading a row, so a shard
that went missing, was emptied, replaced or added is a one-line error, never a silently smaller table.
Markers written before the list existed (no "files") are still read: their shards' rows are counted
against the marker's `tokens`.

Schema versions: the marker and every shard (Parquet key-value metadata SHARD_VERSION_KEY) carry
schema.SCHEMA_VERSION; a newer one is refused, a shard without one is version 1 (written before shards
carried it; same columns).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import polars as pl

from probscope import runs, schema
from probscope.errors import ProbscopeError, first_line

_PART = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
SHARD_VERSION_KEY = "probscope.schema_version"
_REPAIR = "delete the folder and re-run `probscope probe` to repair it"
_FILE_KEYS = ("name", "rows", "bytes", "footer_sha256")
# (shard, footer hash) already checked by this process: a dashboard re-reading a billion rows' shards checks
# each footer against its marker every time, and the columns only once per footer
_CHECKED: set[tuple[Path, str]] = set()
_TOKEN_SCHEMA = schema.token_schema()


def part_name(rank: int, shard: int) -> str:
    """File of shard `shard` written by process `rank`; the shard index alone decides its rows."""
    return f"part-{rank:03d}-{shard:06d}.parquet"


def shard_files(probe_dir: Path, shard: int) -> list[Path]:
    """The file(s) holding one shard (any rank may have written it)."""
    return sorted(Path(probe_dir).glob(f"part-*-{shard:06d}.parquet"))


def write_shard(frame: pl.DataFrame, path: Path) -> None:
    """One shard, atomically, stamped with the schema version it was written in."""
    with runs.atomic_path(path) as tmp:
        frame.write_parquet(tmp, metadata={SHARD_VERSION_KEY: str(schema.SCHEMA_VERSION)})


def shard_record(file: Path, rows: int | None = None) -> dict:
    """What the completion marker records of one shard file (see the module docstring); `rows`: its row count
    when the writer knows it (else read from the file's metadata)."""
    return {"name": file.name, "rows": _row_count(file) if rows is None else rows, "bytes": file.stat().st_size,
            "footer_sha256": footer_sha256(file)}


def read_footer(file: Path) -> bytes:
    """A Parquet file's footer followed by its last 8 bytes (footer length, magic); ValueError if the file does
    not end like a Parquet file. One small read: the marker's hash and the shard's columns both come from it."""
    with open(file, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < 12:
            raise ValueError(f"{size} bytes, too short for Parquet")
        f.seek(size - 8)
        tail = f.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length + 12 > size:
            raise ValueError("no Parquet footer at its end")
        f.seek(size - 8 - length)
        return f.read(length) + tail


def footer_sha256(file: Path) -> str:
    """SHA-256 of a Parquet file's footer (its last 8 bytes say how long the footer is); ValueError if the
    file does not end like a Parquet file."""
    return _digest(read_footer(file))


def _digest(footer: bytes) -> str:
    return hashlib.sha256(footer[:-8]).hexdigest()


def read_marker_json(probe_dir: Path) -> dict | None:
    """The completion marker's JSON object; None when there is none (unfinished); one-line error when unreadable."""
    marker = Path(probe_dir) / runs.PROBE_DONE
    try:
        raw = json.loads(marker.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProbscopeError(f"{marker}: unreadable completion marker ({first_line(e)}); {_REPAIR}") from None
    if not isinstance(raw, dict):
        raise ProbscopeError(f"{marker}: the completion marker is not a JSON object; {_REPAIR}")
    check_version(raw.get("schema_version", 1), probe_dir)
    files = raw.get("files")
    if files is not None and not (isinstance(files, list) and all(
            isinstance(f, dict) and set(_FILE_KEYS) <= set(f) for f in files)):
        raise ProbscopeError(f"{marker}: its 'files' list is malformed (each entry needs {', '.join(_FILE_KEYS)}); "
                             f"{_REPAIR}")
    return raw


def check_version(version, table: Path | str) -> None:
    """Refuse a table (or shard) written by a newer probscope."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProbscopeError(f"{table}: schema version {version!r} is not a positive integer; {_REPAIR}")
    if version > schema.SCHEMA_VERSION:
        raise ProbscopeError(f"{table}: probe table schema v{version} is newer than this probscope's "
                             f"v{schema.SCHEMA_VERSION}; upgrade probscope to read it")


def verify_probe_table(probe_dir: str | os.PathLike) -> list[Path]:
    """The shard files of a finished probe directory, in shard order, after checking them against the
    completion marker; a one-line error naming the directory and the problem otherwise."""
    probe_dir = Path(probe_dir)
    present = {p.name: p for p in probe_dir.iterdir() if _PART.match(p.name)}
    marker = read_marker_json(probe_dir)
    if marker is None:
        if present:
            raise ProbscopeError(f"{probe_dir}: an unfinished probe (no {runs.PROBE_DONE}); re-run `probscope probe` "
                                 "with the same inputs to finish it")
        raise ProbscopeError(f"{probe_dir}: no probe shards (part-*.parquet); "
                             "probe a model into it with `probscope probe`")
    if marker.get("files") is not None:
        footers = _check_listed(probe_dir, marker["files"], present)
        files = [probe_dir / name for name in sorted(footers, key=_shard_index)]
    else:
        files = _check_counted(probe_dir, marker, present)
        footers = {}
    for file in files:
        if file.name not in footers:
            check_shard(file)
            continue
        footer, digest = footers[file.name]
        if (file, digest) not in _CHECKED:   # the footer was just compared with the marker's: these exact bytes
            check_shard(file, footer=footer)
            _CHECKED.add((file, digest))
    return files


def _check_listed(probe_dir: Path, listed: list[dict], present: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    """The marker's files, each present with the recorded size and footer, and no shard besides them:
    name -> (its footer, the footer's hash), as checked."""
    names = [entry["name"] for entry in listed]
    if not names:
        raise ProbscopeError(f"{probe_dir}: its completion marker lists no shard; {_REPAIR}")
    footers: dict[str, tuple[bytes, str]] = {}
    extra = sorted(set(present) - set(names))
    if extra:
        raise ProbscopeError(f"{probe_dir}: shard {extra[0]} is not part of the finished probe (an extra file; "
                             f"the marker lists {len(names)}); {_REPAIR}")
    for entry in listed:
        file = probe_dir / entry["name"]
        if entry["name"] not in present:
            raise ProbscopeError(f"{probe_dir}: shard {entry['name']} is missing (the marker lists {len(names)}); "
                                 f"{_REPAIR}")
        size = file.stat().st_size
        if size == 0:
            raise ProbscopeError(f"{probe_dir}: shard {entry['name']} is empty "
                                 f"(0 bytes; it held {entry['rows']} rows); "
                                 f"{_REPAIR}")
        try:
            footer = read_footer(file)
        except ValueError:   # no Parquet footer at its end: never the file the marker records
            footer = None
        digest = None if footer is None else _digest(footer)
        if footer is None or digest is None or size != entry["bytes"] or digest != entry["footer_sha256"]:
            rows = _row_count(file) if digest is not None else None
            change = (f"holds {rows:,} rows, the marker says {entry['rows']:,}" if rows not in (None, entry["rows"])
                      else f"is {size:,} bytes, the marker says {entry['bytes']:,}" if size != entry["bytes"]
                      else "has another Parquet footer than the marker records")
            raise ProbscopeError(f"{probe_dir}: shard {entry['name']} was replaced or modified after the probe "
                                 f"finished (it {change}); {_REPAIR}")
        footers[entry["name"]] = (footer, digest)
    return footers


def _check_counted(probe_dir: Path, marker: dict, present: dict[str, Path]) -> list[Path]:
    """A marker written before shards were listed: shards 0..shards-1 each once, rows adding up to `tokens`."""
    files = [present[name] for name in sorted(present, key=_shard_index)]
    shards = marker.get("shards")
    indices = [_shard_index(f.name) for f in files]
    if isinstance(shards, int) and indices != list(range(shards)):
        missing = sorted(set(range(shards)) - set(indices))
        problem = f"shard {missing[0]} is missing" if missing else "it holds shards besides the finished probe's"
        raise ProbscopeError(f"{probe_dir}: {problem} (the marker counts {shards}); {_REPAIR}")
    tokens = marker.get("tokens")
    if isinstance(tokens, int):
        rows = sum(_readable(file, _row_count) for file in files)
        if rows != tokens:
            raise ProbscopeError(f"{probe_dir}: its shards hold {rows:,} rows, the marker says {tokens:,}; {_REPAIR}")
    return files


def check_shard(file: Path, repair: str = _REPAIR, footer: bytes | None = None) -> None:
    """One shard: readable Parquet, a schema version this probscope reads, exactly the probe columns.
    `repair`: what the error message tells the user to do; `footer`: its footer (read_footer), if read already."""
    if footer is None:
        footer = _readable(file, read_footer, repair)
    # the footer alone, framed as a Parquet file (leading magic + footer + tail), answers both questions
    framed = b"PAR1" + footer
    columns = _readable(file, lambda _: pl.scan_parquet(io.BytesIO(framed), glob=False).collect_schema(), repair)
    version = _readable(file, lambda _: pl.read_parquet_metadata(io.BytesIO(framed)), repair).get(SHARD_VERSION_KEY,
                                                                                                   "1")
    check_version(int(version) if version.isdigit() else version, file)
    expected = _TOKEN_SCHEMA
    if columns != dict(expected):
        missing = [name for name in expected if name not in columns]
        wrong = [name for name in expected if name in columns and columns[name] != expected[name]]
        extra = [name for name in columns if name not in expected]
        what = (f"column {missing[0]!r} is missing" if missing else
                f"column {wrong[0]!r} is {columns[wrong[0]]}, not {expected[wrong[0]]}" if wrong else
                f"column {extra[0]!r} is not a probe column" if extra else "the columns are in another order")
        raise ProbscopeError(f"{file}: columns {list(columns)} differ from probe schema v{schema.SCHEMA_VERSION} "
                             f"({what}); {repair}")


def _row_count(file: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(file).num_rows


def _readable(file: Path, read, repair: str = _REPAIR):
    try:
        return read(file)
    except Exception as e:   # polars and pyarrow raise their own types for a file that is not Parquet
        raise ProbscopeError(f"{file}: not a readable Parquet file ({first_line(e)}); {repair}") from None


def _shard_index(name: str) -> int:
    part = _PART.match(name)
    assert part is not None, "only shard names present in the directory (matching _PART) are sorted"
    return int(part.group(2))


def scan_probe_table(path: str | os.PathLike) -> pl.LazyFrame:
    """A finished probe directory's rows (its part files in shard order, checked against the completion
    marker), or one Parquet file's, as a LazyFrame: queries read only the columns and row groups they need."""
    path = Path(path)
    if path.is_file():
        check_shard(path)
        files = [path]
    elif path.is_dir():
        files = verify_probe_table(path)
    else:
        raise ProbscopeError(f"{path}: does not exist")
    # the paths are literal (a run folder may be named `exp*1`); the schema is given, each shard was just checked to
    # hold exactly it: polars need not read 660 footers again to know the columns (1.9 s at 1e9 rows, uncached)
    return pl.scan_parquet(files, glob=False, schema=_TOKEN_SCHEMA)


def read_probe_table(path: str | os.PathLike) -> pl.DataFrame:
    """All rows of a finished probe directory (its part files in shard order), or of one Parquet file."""
    return scan_probe_table(path).collect()
