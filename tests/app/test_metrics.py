"""The runs table (probscope.app.metrics) against the probe, dynamics and evaluation files it summarizes.

    .venv/bin/pytest tests/app/test_metrics.py -q
"""

from __future__ import annotations

import polars as pl
import pytest
from helpers import build_dashboard_runs

from probscope import schema
from probscope.app.metrics import ticked_runs
from probscope.runs import Run


def test_ticks_add_and_remove_runs_in_probed_order():
    probed = ["base", "dft", "sft", "grpo"]
    assert ticked_runs(["sft"], probed, ["grpo", "base", "sft"], {0: True, 1: None, 2: False}) == ["grpo"]
    assert ticked_runs(["sft"], probed, ["dft"], {0: True}) == ["dft", "sft"]


def test_runs_table_numbers_match_the_files(tmp_path, monkeypatch):
    from conftest import REPO
    from streamlit.testing.v1 import AppTest

    root = build_dashboard_runs(tmp_path / "runs")
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update({"steps": "sft:5"})
    app.switch_page(str(REPO / "probscope" / "app" / "views" / "runs.py")).run()
    assert not app.exception and not app.error
    table = pl.from_pandas(app.dataframe[0].value)
    sft = table.filter(pl.col(schema.RUN) == "sft").row(0, named=True)
    assert sft[schema.STEP] == 5 and sft["chosen"]                               # the sidebar's step
    p = pl.read_parquet(Run(root / "sft").probe_dir(5) / "*.parquet")[schema.P]  # an independent count
    assert sft["below_0.1"] == pytest.approx(100 * (p < 0.1).mean())
    assert sft["above_0.9"] == pytest.approx(100 * (p >= 0.9).mean())
    assert sft["nll"] == pytest.approx(float((-p.log()).mean()), rel=1e-6)
    samples = pl.read_parquet(Run(root / "sft").eval_dir(5, "builtin-test") / "*.parquet")
    assert sft["acc: builtin-test"] == pytest.approx(100 * samples["correct"].mean())   # Average@k: mean over samples
    dynamics = pl.read_parquet(Run(root / "sft").dynamics_dir / "*.parquet")
    last = dynamics.filter(pl.col(schema.STEP) <= 5).sort(schema.STEP)[-1]
    assert sft[schema.SFT_LOSS] == pytest.approx(last[schema.SFT_LOSS].item())
    assert table.filter(pl.col(schema.RUN) == "base")["acc: builtin-test"].is_null().all()   # never evaluated
