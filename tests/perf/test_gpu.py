"""The GPU script's own code path at toy size on the CPU, where polars and TRL are absent (as on the GPU machines).

    .venv/bin/pytest tests/perf/test_gpu.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KEYS = ("probe_s", "body_s", "head_matmul_s", "ratio_to_floor", "tokens_per_s", "plain_samples_s", "fast_samples_s",
        "greedy_equal", "peak_gpu_gb")
# polars and trl made unimportable first: the script must run on a machine without them
SCRIPT = ("import sys, json; sys.modules['polars'] = None; sys.modules['trl'] = None; "
          "from probscope.perf.gpu import main; "
          "print(json.dumps(main(['--tiny', '--device', 'cpu', '--tokens', '3000', '--prompt-tokens', '20', "
          "'--reply-tokens', '40', '--prompts', '3', '--new-tokens', '4', '--batch-size', '2'])))")


@pytest.mark.usefixtures("one_thread")
def test_gpu_script_runs_at_toy_size_without_polars_or_trl():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(KEYS) <= set(result)
    assert result["target_tokens"] >= 3000 and result["probe_s"] > 0 and result["body_s"] > 0
    assert result["greedy_equal"] is True   # fp32 on the CPU: the static-cache path decodes the same tokens
