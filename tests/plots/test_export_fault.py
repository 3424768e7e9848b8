"""`probscope export` killed with SIGKILL and rerun: the same files and the same tables as an uninterrupted export.

    .venv/bin/pytest tests/test_export_fault.py

The export runs in a subprocess that is killed the moment one of its files exists under its temporary name
(mid-write, after at least one finished file), so the kill always lands inside a write. Images are compared
by name only (their metadata may differ); the CSV and Markdown tables byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from helpers import build_fixture_runs

FIGURES = ("figure2", "extreme_bin_shares", "left_behind")   # three quick ones: each is an image, a CSV and a table


def _export_args(runs_root: Path, out: Path) -> list[str]:
    return ["export", "--runs", str(runs_root), "--out", str(out), "--format", "png",
            *(arg for name in FIGURES for arg in ("--figure", name))]


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """An uninterrupted export, and one killed mid-write then rerun (in this process)."""
    from probscope.cli import main

    root = tmp_path_factory.mktemp("export-fault")
    runs_root = build_fixture_runs(root / "runs")
    killed = root / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    code = "import sys; from probscope.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, *_export_args(runs_root, killed)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (_visible(killed) and list(killed.glob(".*.tmp"))):
            assert process.poll() is None, "export ended before it could be killed mid-write: " + \
                process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "export never wrote a second file"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    interrupted = {"visible": _visible(killed), "hidden": sorted(p.name for p in killed.glob(".*"))}
    assert main(_export_args(runs_root, killed)) == 0
    assert main(_export_args(runs_root, root / "whole")) == 0
    return {"killed": killed, "whole": root / "whole", "interrupted": interrupted}


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


@pytest.mark.fault
def test_killed_export_was_cut_short(exports):
    expected = {f"{name}.{kind}" for name in FIGURES for kind in ("png", "csv", "md")}
    assert set(exports["interrupted"]["visible"]) < expected
    assert exports["interrupted"]["hidden"]   # the file being written when the process died


@pytest.mark.fault
def test_killed_export_rerun_equals_an_uninterrupted_export(exports):
    killed, whole = exports["killed"], exports["whole"]
    assert _visible(killed) == _visible(whole) == sorted(f"{n}.{k}" for n in FIGURES for k in ("png", "csv", "md"))
    for name in _visible(whole):
        if not name.endswith(".png"):
            assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


@pytest.mark.fault
def test_killed_export_rerun_leaves_no_temporary_file(exports):
    assert sorted(p.name for p in exports["killed"].glob(".*")) == []
