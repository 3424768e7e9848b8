"""`probscope dashboard` serves through probscope.app.serve: the pages' libraries are loaded before it answers,
not on the first page a user opens."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import build_fixture_runs

from probscope.app import FAST_SERVER, streamlit_command
from probscope.perf.browser import free_port


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads the server's memory map (Linux)")
def test_the_server_answers_with_the_pages_libraries_already_loaded(tmp_path):
    port = free_port()
    command = streamlit_command(str(build_fixture_runs(tmp_path)), port)
    # Streamlit refuses an option it does not know: a server that starts took the settings that keep a full
    # garbage collection and a file watcher off every page
    assert " ".join(FAST_SERVER) in " ".join(command)
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the dashboard server did not start"
                time.sleep(0.1)
        mapped = Path(f"/proc/{server.pid}/maps").read_text()
    finally:
        server.terminate()
        server.wait(10)
    # no page was opened: plain `streamlit run` has mapped none of these libraries' compiled code by now
    assert "/pandas/_libs/" in mapped and "/pyarrow/" in mapped and "polars" in mapped
