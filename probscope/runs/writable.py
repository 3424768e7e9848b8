"""Output paths checked before any work: `--out`, `--runs`, `--results` that name a file or a folder this
user cannot write are one-line errors naming the flag, not a traceback after minutes of work.

    from probscope.runs.writable import check_directory, ensure_directory, ensure_writable_file
    check_directory(args.out, "--out")             # could be created and written; nothing is created yet
    out = ensure_directory(args.out, "--out")      # created (with its parents) when missing
    ensure_writable_file(args.out, "--out")        # a file to write: a writable folder, not a folder itself
"""

from __future__ import annotations

import os
from pathlib import Path

from probscope.errors import ProbscopeError


def check_directory(path: str | os.PathLike | None, flag: str) -> Path:
    """`path` is a folder, or could be made one, that this process can write into; nothing is created."""
    if path is None or not str(path).strip():
        raise ProbscopeError(f"{flag}: a folder is needed, found {path!r}")
    path = Path(path)
    existing = next(part for part in (path, *path.parents, Path(".")) if part.exists())
    if not existing.is_dir():
        raise ProbscopeError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ProbscopeError(f"{flag} {path}: {existing} is not writable by this user")
    return path


def ensure_directory(path: str | os.PathLike | None, flag: str) -> Path:
    """`path` as an existing folder this process can write into (created when missing), else a one-line error."""
    path = check_directory(path, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProbscopeError(f"{flag} {path}: cannot create it ({e.strerror})") from None
    return path


def ensure_writable_file(path: str | os.PathLike | None, flag: str) -> Path:
    """`path` names a file this process can write (nothing is created), else a one-line error."""
    if path is None or not str(path).strip():
        raise ProbscopeError(f"{flag}: a file name is needed, found {path!r}")
    path = Path(path)
    if path.is_dir():
        raise ProbscopeError(f"{flag} {path}: a folder; name a file to write")
    check_directory(path.parent, flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise ProbscopeError(f"{flag} {path}: not writable by this user")
    return path
