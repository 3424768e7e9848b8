"""The Streamlit dashboard (app/main.py) renders every page headlessly with AppTest.

    .venv/bin/pytest tests/test_app.py -q
"""

import sys
from pathlib import Path

import pytest
from fixture_runs import build_fixture_runs
from streamlit.testing.v1 import AppTest

from probscope import schema
from probscope.app.dashboard import VIEWS
from probscope.runs import Manifest, Run

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"
PAGES = tuple(str(VIEWS / name) for name in ("figure2.py", "lowest_bin.py", "runs.py"))


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return build_fixture_runs(tmp_path_factory.mktemp("runs"))


def start(runs_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv("PROBSCOPE_RUNS", str(runs_dir))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    return app


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def test_every_page_renders_on_fixture_runs(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch)
    assert_clean(app)
    assert app.title[0].value.startswith("Figure 2")
    assert len(app.get("image")) == 1
    assert app.dataframe[0].value.shape[0] == 3 * len(schema.BIN_LABELS)     # base, sft, dft × bins
    assert app.sidebar.multiselect[0].value == ["base", "dft", "sft"]

    app.switch_page(str(VIEWS / "lowest_bin.py")).run()
    assert_clean(app)
    assert app.title[0].value == "Lowest-bin tokens"
    assert len(app.get("image")) == 1 and len(app.dataframe) == 3

    app.switch_page(str(VIEWS / "runs.py")).run()
    assert_clean(app)
    assert sorted(app.dataframe[0].value["run"]) == ["base", "dft", "sft"]


def test_sidebar_step_choice_reaches_the_page(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch)
    counts_last = app.dataframe[0].value["count"].tolist()
    step = app.sidebar.selectbox(key="step:sft")
    assert step.options == ["5", "10"] and step.value == 10                   # default: last probed step
    step.set_value(5).run()
    assert_clean(app)
    assert app.dataframe[0].value["count"].tolist() != counts_last


def test_runs_dir_from_command_line(runs_root, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["app/main.py", "--runs", str(runs_root)])
    app = start(tmp_path / "not-this-one", monkeypatch)                       # the flag wins over the env var
    assert_clean(app)
    assert app.sidebar.text_input(key="runs_dir").value == str(runs_root)


@pytest.mark.parametrize("page", PAGES)
def test_no_runs_explains_how_to_build_them(page, tmp_path, monkeypatch):
    app = start(tmp_path, monkeypatch)
    app.switch_page(page).run()
    assert_clean(app)
    (info,) = app.info
    assert "no runs found" in info.value and "make demo" in info.value


def test_missing_runs_dir_explains_how_to_build_them(tmp_path, monkeypatch):
    app = start(tmp_path / "missing", monkeypatch)
    assert_clean(app)
    assert "does not exist" in app.info[0].value and "make demo" in app.info[0].value


def test_runs_without_probe_tables(tmp_path, monkeypatch):
    Run(tmp_path / "sft").write_manifest(Manifest(name="sft", method="sft"))
    app = start(tmp_path, monkeypatch)
    assert_clean(app)
    assert "probscope probe" in app.info[0].value
    app.switch_page(str(VIEWS / "runs.py")).run()                                  # the runs themselves still show
    assert_clean(app)
    assert app.dataframe[0].value["run"].tolist() == ["sft"]
