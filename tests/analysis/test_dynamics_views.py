"""Training dynamics across runs: loading, per-step curves and the figure (the dashboard's page is
tested with the other pages in tests/app/test_app.py).

    .venv/bin/pytest tests/analysis/test_dynamics_views.py -q
"""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import build_fixture_runs
from matplotlib import colors

import probscope as ps
from probscope import schema
from probscope.analysis.dynamics import (
    SHARE_BELOW,
    TRAINED_OBJECTIVE,
    dynamics_signature,
)
from probscope.errors import ProbscopeError
from probscope.plots.dynamics import PANELS
from probscope.runs import Manifest, Run, write_parquet_atomic

STEPS = (1, 2, 3)
N_BINS = len(schema.BIN_LABELS)
# run -> (method, objective in the training config or None, weight of dft per step)
TRAINED = {"sft": ("sft", None, 0.0), "dft": ("dft", "dft", 0.5), "dft-b": ("dft", "dft", 0.7)}


def bin_counts(run_index: int, step: int) -> list[int]:
    """Distinct per run and step, every bin non-empty so no share is 0 or 1 by accident."""
    return [1 + (run_index * 7 + step * 3 + b) % 5 for b in range(N_BINS)]


def dynamics_rows(run_index: int, dft_weight: float) -> list[dict]:
    rows = []
    for step in STEPS:
        counts = bin_counts(run_index, step)
        step_level = {schema.STEP: step, schema.N_TOKENS: sum(counts), schema.P_BIN_COUNTS: counts,
                      schema.SFT_LOSS: 2.0 / step + run_index, schema.DFT_LOSS: 0.1 * step + run_index}
        rows.append({**step_level, schema.OBJECTIVE: "sft", schema.WEIGHT_MEAN: 1.0})
        rows.append({**step_level, schema.OBJECTIVE: "dft", schema.WEIGHT_MEAN: dft_weight + 0.01 * step})
    return rows


def add_dynamics(root: Path) -> None:
    """Dynamics parts for the runs of TRAINED (manifests written where missing)."""
    for i, (name, (method, objective, dft_weight)) in enumerate(TRAINED.items()):
        run = Run(root / name)
        if not run.manifest_path.is_file():
            config = {"run": {"objective": objective}} if objective else {}
            run.write_manifest(Manifest(name=name, method=method, config=config, status="finished"))
        frame = pl.DataFrame(dynamics_rows(i, dft_weight), schema=schema.dynamics_schema())
        write_parquet_atomic(frame, run.dynamics_dir / "part-000000001-000000003.parquet")


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """sft, dft, dft-b with dynamics (no probe tables) and base without."""
    root = tmp_path_factory.mktemp("runs")
    Run(root / "base").write_manifest(Manifest(name="base", method="base", status="finished"))
    add_dynamics(root)
    return root


# ---- loading ---------------------------------------------------------------------------------------
def test_load_dynamics_reads_runs_with_dynamics_and_skips_the_others(runs_root):
    frame = ps.load_dynamics(runs_root)
    assert frame.columns[:3] == [schema.RUN, schema.METHOD, TRAINED_OBJECTIVE]
    assert frame.columns[3:] == list(schema.DYNAMICS_COLUMNS)
    assert sorted(frame[schema.RUN].unique()) == ["dft", "dft-b", "sft"]            # base has no dynamics/
    assert frame.height == len(TRAINED) * len(STEPS) * 2
    per_run = frame.unique(schema.RUN).select(schema.RUN, schema.METHOD, TRAINED_OBJECTIVE).sort(schema.RUN)
    # sft's manifest has no training config: its method names the objective
    assert per_run.rows() == [("dft", "dft", "dft"), ("dft-b", "dft", "dft"), ("sft", "sft", "sft")]


def test_load_dynamics_of_named_runs(runs_root):
    assert ps.load_dynamics(runs_root, ["dft"])[schema.RUN].unique().to_list() == ["dft"]
    empty = ps.load_dynamics(runs_root, ["base"])
    assert empty.is_empty() and empty.columns[3:] == list(schema.DYNAMICS_COLUMNS)
    with pytest.raises(ProbscopeError, match="no run named nope"):
        ps.load_dynamics(runs_root, ["sft", "nope"])


def test_signature_changes_when_a_part_is_written(tmp_path):
    root = build_fixture_runs(tmp_path)
    assert dynamics_signature(root) == ()                                         # no run has dynamics yet
    add_dynamics(root)
    assert len(dynamics_signature(root, ["dft"])) == 2                            # manifest + one part


# ---- curves --------------------------------------------------------------------------------------------
def test_curves_match_a_numpy_reference(runs_root):
    curves = ps.dynamics_curves(ps.load_dynamics(runs_root), below=0.1)
    assert curves.height == len(TRAINED) * len(STEPS)                            # one row per (run, step)
    below = np.array(schema.BIN_EDGES[1:]) <= 0.1                                 # bins entirely under 0.1
    for i, (name, (_, _, dft_weight)) in enumerate(TRAINED.items()):
        rows = curves.filter(pl.col(schema.RUN) == name).sort(schema.STEP)
        counts = np.array([bin_counts(i, step) for step in STEPS])
        assert rows[SHARE_BELOW].to_list() == pytest.approx((counts * below).sum(1) / counts.sum(1))
        own = [1.0] * len(STEPS) if name == "sft" else [dft_weight + 0.01 * step for step in STEPS]
        assert rows[schema.WEIGHT_MEAN].to_list() == pytest.approx(own)
        assert rows[schema.SFT_LOSS].to_list() == pytest.approx([2.0 / step + i for step in STEPS])


def test_curves_share_below_another_edge_and_a_bad_one(runs_root):
    frame = ps.load_dynamics(runs_root, ["sft"])
    counts = np.array(bin_counts(0, 1))
    share = ps.dynamics_curves(frame, below=1e-3).filter(pl.col(schema.STEP) == 1)[SHARE_BELOW].item()
    assert share == pytest.approx(counts[:2].sum() / counts.sum())               # bins [0, 1e-4), [1e-4, 1e-3)
    with pytest.raises(ProbscopeError, match="not a Figure-2 bin edge"):
        ps.dynamics_curves(frame, below=0.15)


def test_own_weight_is_null_when_the_trained_objective_was_not_recorded(tmp_path):
    run = Run(tmp_path / "odd")
    run.write_manifest(Manifest(name="odd", method="odd", config={"run": {"objective": "unrecorded"}}))
    write_parquet_atomic(pl.DataFrame(dynamics_rows(0, 0.5), schema=schema.dynamics_schema()),
                         run.dynamics_dir / "part-000000001-000000003.parquet")
    curves = ps.dynamics_curves(ps.load_dynamics(tmp_path))
    assert curves.height == len(STEPS) and curves[schema.WEIGHT_MEAN].null_count() == len(STEPS)


# ---- figure --------------------------------------------------------------------------------------------
def test_figure_has_a_panel_per_quantity_and_a_line_per_run(runs_root):
    frame = ps.load_dynamics(runs_root)
    figure = ps.plot_training_dynamics(frame)
    assert [ax.get_title() for ax in figure.axes] == [
        "SFT loss of the batch", "DFT loss of the batch", "Target tokens with p < 0.1",
        "Mean gradient weight, own objective"]
    assert all(ax.get_xlabel() == "Optimizer step" for ax in figure.axes)
    curves = ps.dynamics_curves(frame)
    for ax, (column, _, _) in zip(figure.axes, PANELS, strict=False):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert list(lines) == ["SFT · sft", "DFT · dft", "DFT · dft-b"]          # schema.METHOD_ORDER
        for label, run in (("SFT · sft", "sft"), ("DFT · dft-b", "dft-b")):
            expected = curves.filter(pl.col(schema.RUN) == run).sort(schema.STEP)
            assert list(lines[label].get_xdata()) == list(STEPS)
            assert list(lines[label].get_ydata()) == pytest.approx(expected[column].to_list())
        # methods keep their schema colours; a method's second run differs by line style
        assert colors.to_hex(lines["SFT · sft"].get_color()) == schema.METHOD_COLORS["sft"]
        assert colors.to_hex(lines["DFT · dft"].get_color()) == colors.to_hex(lines["DFT · dft-b"].get_color()) \
            == schema.METHOD_COLORS["dft"]
        assert (lines["DFT · dft"].get_linestyle(), lines["DFT · dft-b"].get_linestyle()) == ("-", "--")
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["SFT · sft", "DFT · dft", "DFT · dft-b"]


def test_figure_without_dynamics_says_so(runs_root):
    figure = ps.plot_training_dynamics(ps.load_dynamics(runs_root, ["base"]))
    (ax,) = figure.axes
    assert not ax.axison and ax.texts[0].get_text() == "No training dynamics recorded"


def test_figure_draws_into_given_axes(runs_root):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 4), layout="constrained")
    axes = figure.subplots(1, len(PANELS))
    assert ps.plot_training_dynamics(ps.load_dynamics(runs_root), ax=axes) is figure
    assert all(len(ax.get_lines()) == len(TRAINED) for ax in axes)
    with pytest.raises(ProbscopeError, match=f"draws {len(PANELS)} panel"):
        ps.plot_training_dynamics(ps.load_dynamics(runs_root), ax=axes[:2])
