"""What `pip install probscope` gives a user: the wheel alone, in a fresh venv, in an empty directory.

    .venv/bin/pytest tests/test_wheel.py -q

The fresh venv sees the test venv's dependencies (torch etc., through a .pth line: installing them again
would take minutes) but not the checkout: probscope comes from the wheel only, and everything runs from an
empty directory, so nothing found through the repository's folders can make it pass.
"""

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # built from a copy of the files git tracks: a build/ folder left in the checkout could smuggle stale
    # modules into the wheel, and untracked files would not be in a user's clone either
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, timeout=300)
    (path,) = out.glob("probscope-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # dependencies from the test venv; a .pth line adds the directory without running its .pth files,
    # so the checkout's editable install stays invisible
    (Path(site) / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300)
    return root


def run_in(venv: Path, cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_wheel_holds_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"probscope"}
    assert "probscope/builtin/recipes/sft.yaml" in names and "probscope/app/main.py" in names


def test_installed_wheel_builds_the_demo_and_serves_the_dashboard(venv, tmp_path):
    bin_dir = venv / "bin"
    where = run_in(venv, tmp_path, str(bin_dir / "python"), "-c", "import probscope; print(probscope.__file__)")
    assert where.returncode == 0 and str(venv) in where.stdout and str(REPO) not in where.stdout, where

    demo = run_in(venv, tmp_path, str(bin_dir / "probscope"), "demo", "--smoke", "--no-serve", "--runs", "runs")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert (tmp_path / "runs" / "dft" / "manifest.json").is_file()
    assert list((tmp_path / "runs" / "dft" / "probes" / "train").glob("step-*/_DONE.json"))

    page = run_in(venv, tmp_path, str(bin_dir / "python"), "-c", (
        "from streamlit.testing.v1 import AppTest; import probscope.app as a; "
        "t = AppTest.from_file(str(a.STREAMLIT_SCRIPT), default_timeout=60); t.run(); "
        "assert not t.exception and not t.error, t.exception; print(t.title[0].value)"
    ))
    assert page.returncode == 0 and "Overview" in page.stdout, page.stderr[-2000:]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(bin_dir / "probscope"), "dashboard", "--runs", "runs", "--port", str(port)],
                              cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise AssertionError("the dashboard did not start") from None
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<title>" in r.read()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
