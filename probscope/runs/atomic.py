"""Atomic writes: every file probscope writes appears whole or not at all, so a killed process never leaves
half a file (a temporary file next to the target, renamed over it on success).

    write_text_atomic(path, text); write_parquet_atomic(frame, path)
    with atomic_path(path) as tmp: model.save(tmp)
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to `path`; on success rename it to `path`, on failure delete it.

    Every file probscope writes goes through here, so a killed process never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; the result should read like any file the user writes
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_parquet_atomic(frame, path: str | os.PathLike) -> None:
    """Write a polars DataFrame as Parquet, atomically."""
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)
