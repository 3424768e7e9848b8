"""Reading dataset rows: JSONL, JSON (a list or {"data": [...]}), Parquet, CSV, a `save_to_disk`
directory, or (only for a name that is not a path) a hub dataset via `datasets.load_dataset`.

    from probscope.data import read_records
    rows = read_records("gsm8k.jsonl")        # list[dict]; errors name the file and the line
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from probscope.errors import ProbscopeError, first_line


# ---- reading records ----------------------------------------------------------------------------------
def read_records(path: str | os.PathLike, split: str = "train") -> list[dict]:
    """Rows of a JSONL/JSON/Parquet/CSV file, a save_to_disk directory, or (a non-path name) a hub dataset."""
    p = Path(path)
    if p.is_dir():
        return _read_saved_dataset(p, split)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".jsonl":
            return _read_jsonl(p)
        if suffix == ".json":
            return _read_json(p)
        if suffix == ".parquet":
            return _read_parquet(p)
        if suffix == ".csv":
            return _read_csv(p)
        raise ProbscopeError(f"{p}: unsupported file type {suffix!r}: use .jsonl, .json, .parquet or .csv")
    if p.suffix or str(path).startswith((".", "/", "~")):
        raise ProbscopeError(f"{path}: no such file or directory")
    return _load_hub_dataset(str(path), split)


def _read_text(p: Path) -> str:
    """The file as UTF-8 text; bytes that are not UTF-8 are an error naming the line."""
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ProbscopeError(f"{p}: line {line}: bytes that are not UTF-8 ({raw[e.start:e.start + 4]!r}); "
                             "re-save the file as UTF-8") from None


def _read_jsonl(p: Path) -> list[dict]:
    rows = []
    # split on newlines only: JSON strings may hold other line separators (U+2028) unescaped
    for line_no, line in enumerate(_read_text(p).split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ProbscopeError(f"{p}: line {line_no}: not valid JSON ({e.msg}); fix or remove the line") from None
        if not isinstance(row, dict):
            raise ProbscopeError(f"{p}: line {line_no}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _read_json(p: Path) -> list[dict]:
    try:
        data = json.loads(_read_text(p))
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ProbscopeError(f"{p}: expected a JSON list of objects or {{\"data\": [...]}}")
    return data


def _read_csv(p: Path) -> list[dict]:
    reader = csv.DictReader(io.StringIO(_read_text(p), newline=""))
    rows = []
    for row in reader:
        if None in row:   # csv puts the fields beyond the header under the key None
            raise ProbscopeError(f"{p}: line {reader.line_num}: more fields than the header's "
                                 f"{len(reader.fieldnames or [])} columns (an unquoted comma?)")
        rows.append(row)
    return rows


def _read_parquet(p: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(p).to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise ProbscopeError(f"{p}: not a readable Parquet file ({first_line(e)})") from None


def _read_saved_dataset(p: Path, split: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except FileNotFoundError:
        raise ProbscopeError(f"{p}: a directory, but not one written by datasets' save_to_disk") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ProbscopeError(f"{p}: no split {split!r} (splits: {', '.join(ds)})")
        ds = ds[split]
    return ds.to_list()


def _load_hub_dataset(name: str, split: str) -> list[dict]:
    import datasets

    try:
        return datasets.load_dataset(name, split=split).to_list()
    except Exception as e:  # the hub raises many types (network, auth, missing config); report one line
        raise ProbscopeError(f"{name}: not a local path, and loading it from the hub failed: "
                             f"{type(e).__name__}: {first_line(e)}") from None
