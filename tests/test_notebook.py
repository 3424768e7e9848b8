"""examples/tour.ipynb runs top to bottom on a fixture runs directory (nbclient, this interpreter's kernel).

    .venv/bin/pytest tests/test_notebook.py -q

The kernel is this Python (the project's venv) through a kernelspec written into a temporary
JUPYTER_PATH; Jupyter's and IPython's runtime files go to the temporary directory too.
"""

import json
import sys

import nbformat
import pytest
from conftest import REPO
from helpers import build_fixture_runs
from nbclient import NotebookClient

KERNEL = "probscope-test"


@pytest.fixture
def isolated_jupyter(tmp_path, monkeypatch):
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "probscope test kernel", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
    return tmp_path


@pytest.mark.timeout(120)
def test_tour_notebook_runs_top_to_bottom(isolated_jupyter, monkeypatch):
    runs = build_fixture_runs(isolated_jupyter / "runs")
    monkeypatch.setenv("PROBSCOPE_RUNS", str(runs))
    notebook = nbformat.read(REPO / "examples" / "tour.ipynb", as_version=4)
    NotebookClient(notebook, kernel_name=KERNEL, timeout=90,
                   resources={"metadata": {"path": str(isolated_jupyter)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == sum(cell.source.startswith("ps.plot_") or "\nps.plot_" in cell.source
                              for cell in notebook.cells) == 9                  # every figure rendered
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "end of reply ('<|eos|>'): p < 0.1 in " in printed and "under dft vs 0% of 40 under sft" in printed
