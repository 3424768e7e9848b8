"""Two CPU processes (torchrun, gloo) probe the same examples as one process, with identical results.

    .venv/bin/pytest tests/probe/test_probe_multiprocess.py
"""

import json
from pathlib import Path

import polars as pl
import pytest
from _probe_worker import EXAMPLES, SHARD_SIZE, probe
from helpers import run_torchrun

from probscope import runs
from probscope.probe import read_probe_table, summaries

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


@pytest.mark.slow
def test_two_nodes_equal_one_process(tmp_path, one_thread):
    """The multi-node form: two torchrun agents (--nnodes 2, one process each) meeting at a c10d rendezvous
    endpoint, as on two machines, here both on localhost; summaries merged from both nodes' shards."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "probe-two-nodes",
               str(WORKER), str(tmp_path / "two")]
    agents = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True) for _ in range(2)]
    try:
        errors = [agent.communicate(timeout=300)[1] for agent in agents]
    finally:
        for agent in agents:
            if agent.poll() is None:
                os.killpg(agent.pid, signal.SIGKILL)
    assert all(agent.returncode == 0 for agent in agents), "\n".join(e[-2000:] for e in errors)
    probe(tmp_path / "one")
    assert read_probe_table(tmp_path / "two").equals(read_probe_table(tmp_path / "one"))
    marker = json.loads((tmp_path / "two" / runs.PROBE_DONE).read_text())
    assert marker["world_size"] == 2 and marker["summaries"]["files"]
    one = pl.read_parquet(tmp_path / "one" / summaries.summary_name("tokens"))
    assert pl.read_parquet(tmp_path / "two" / summaries.summary_name("tokens")).equals(one)
