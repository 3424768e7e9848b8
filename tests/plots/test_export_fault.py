"""`probscope export` killed with SIGKILL and rerun: the same files and the same tables as an uninterrupted export.

    .venv/bin/pytest tests/plots/test_export_fault.py

The export runs in a subprocess whose table writer holds its first table under its temporary name (the first
image already finished); the process is killed then, so the kill always lands inside a write, not by the luck
of a timer. Images are compared by name only (their metadata may differ); the CSV and Markdown tables byte for
byte.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO
from helpers import build_fixture_runs, kill_when

FIGURES = ("figure2", "extreme_bin_shares", "left_behind")   # three quick ones: each is an image, a CSV and a table
# `probscope export ARGS` whose first table stays complete under its temporary name, not yet renamed, until killed
PAUSED_EXPORT = textwrap.dedent("""
    import sys, time
    from probscope.cli import main
    from probscope.plots import export
    from probscope.runs import atomic_path
    def paused_write(path, text):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
            time.sleep(120)
    export.write_text_atomic = paused_write
    sys.exit(main(sys.argv[1:]))
""")


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
    kill_when([sys.executable, "-c", PAUSED_EXPORT, *_export_args(runs_root, killed)],
              lambda: _visible(killed) and list(killed.glob(".*.tmp")), "a file written after a finished one",
              env=env, timeout=60)
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
