"""Two CPU processes (torchrun, gloo) probe the same examples as one process, with identical results.

    .venv/bin/pytest tests/probe/test_probe_multiprocess.py
"""

import json
from pathlib import Path

import pytest
from _probe_worker import EXAMPLES, SHARD_SIZE, probe
from helpers import run_torchrun

from probscope import runs
from probscope.probe import read_probe_table

WORKER = Path(__file__).parent / "_probe_worker.py"


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path, one_thread):   # the arithmetic of each torchrun worker
    run_torchrun(WORKER, str(tmp_path / "two"))
    probe(tmp_path / "one")

    shards = -(-EXAMPLES // SHARD_SIZE)
    two = sorted(p.name for p in (tmp_path / "two").glob("part-*.parquet"))
    assert two == sorted(f"part-{i % 2:03d}-{i:06d}.parquet" for i in range(shards))   # each rank its own shards
    assert read_probe_table(tmp_path / "two").equals(read_probe_table(tmp_path / "one"))
    marker = json.loads((tmp_path / "two" / runs.PROBE_DONE).read_text())
    assert marker["world_size"] == 2 and marker["tokens"] == len(read_probe_table(tmp_path / "one"))
