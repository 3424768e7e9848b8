"""Figure 2, the lowest-bin figure, batch export and `probscope export`.

    .venv/bin/pytest tests/test_plots.py -q
"""

import matplotlib.colors
import polars as pl
import pytest
from fixture_runs import build_fixture_runs
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

import probscope as ps
from probscope import schema
from probscope.cli import main
from probscope.errors import ProbscopeError
from probscope.plots import FIGURES, register_figure
from probscope.plots.figure2 import X_LABEL, Y_LABEL
from probscope.plots.style import role_color
from probscope.runs import Manifest, Run


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return build_fixture_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def tokens(runs_root):
    return ps.load_tokens(runs_root)


def bar_containers(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


# ---- Figure 2 --------------------------------------------------------------------------------------
def test_figure2_has_the_papers_form(tokens):
    hist = ps.probability_histogram(tokens)
    figure = ps.plot_probability_histogram(hist)
    (ax,) = figure.axes
    containers = bar_containers(ax)
    assert [c.get_label() for c in containers] == ["Base", "SFT", "DFT"]      # schema.METHOD_ORDER
    for container, method in zip(containers, ("base", "sft", "dft")):
        assert len(container) == len(schema.BIN_LABELS)
        assert matplotlib.colors.to_hex(container[0].get_facecolor()) == schema.METHOD_COLORS[method]
        heights = [bar.get_height() for bar in container]
        assert heights == pytest.approx(hist.filter(pl.col(schema.METHOD) == method).sort("bin")["percent"].to_list())
    assert ax.get_yscale() == "log"
    smallest = hist.filter(pl.col("percent") > 0)["percent"].min()
    assert ax.get_ylim()[0] <= smallest / 10**0.5 and ax.get_ylim()[1] >= 100     # every bar visible
    assert (ax.get_xlabel(), ax.get_ylabel()) == (X_LABEL, Y_LABEL)
    assert (X_LABEL, Y_LABEL) == ("Prediction Probability", "Percentage of Tokens (%)")     # the paper's wording
    assert [t.get_text() for t in ax.get_xticklabels()] == list(schema.BIN_LABELS)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Base", "SFT", "DFT"]


def test_figure2_tells_steps_apart_when_a_method_repeats(runs_root):
    tokens = ps.load_tokens(runs_root, steps="all")
    figure = ps.plot_probability_histogram(ps.probability_histogram(tokens, by=ps.series_columns(tokens)))
    labels = [c.get_label() for c in bar_containers(figure.axes[0])]
    assert labels == ["Base · base · step 0", "SFT · sft · step 5", "SFT · sft · step 10",
                      "DFT · dft · step 5", "DFT · dft · step 10"]


def test_figure2_of_no_tokens_says_so():
    figure = ps.plot_probability_histogram(ps.probability_histogram(pl.DataFrame(
        {schema.METHOD: [], schema.P: []}, schema={schema.METHOD: pl.String, schema.P: pl.Float64})))
    assert not figure.axes and figure.texts[0].get_text() == "No tokens to plot"


def test_plots_draw_into_given_axes_so_figures_compose(tokens):
    figure = Figure(layout="constrained")
    left, *rest = figure.subplots(1, 4)
    assert ps.plot_probability_histogram(ps.probability_histogram(tokens), ax=left) is figure
    assert len(bar_containers(left)) == 3
    assert ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens), ax=rest) is figure
    assert [ax.get_title() for ax in rest] == ["Base", "SFT", "DFT"]
    with pytest.raises(ProbscopeError, match="draws 3 panel\\(s\\); pass 3 Axes \\(got 1\\)"):
        ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens), ax=left)
    empty = Figure().add_subplot()
    ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens, upper=0.0), upper=0.0, ax=empty)
    assert empty.texts[0].get_text() == "No token has p < 0" and not empty.axison


# ---- lowest-bin figure ----------------------------------------------------------------------------------
def test_lowest_bin_figure_one_panel_per_method_coloured_by_role(tokens):
    listing = ps.lowest_bin_tokens(tokens)
    figure = ps.plot_lowest_bin_tokens(listing, top=5)
    assert [ax.get_title() for ax in figure.axes] == ["Base", "SFT", "DFT"]
    dft_ax = figure.axes[2]
    top5 = listing.filter(pl.col(schema.METHOD) == "dft").sort("rank").head(5)
    bars = bar_containers(dft_ax)[0]
    assert [bar.get_width() for bar in bars] == top5["count"].to_list()
    assert [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in bars] == [role_color(r) for r in top5["role"]]
    assert [t.get_text() for t in dft_ax.get_yticklabels()] == [repr(t) for t in top5["token"]]
    legend = {t.get_text() for t in figure.legends[0].get_texts()}
    assert legend == set(listing["role"].unique().to_list())


def test_lowest_bin_figure_says_when_nothing_is_that_low(tokens):
    figure = ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens, upper=0.0), upper=0.0)
    assert "No token has p < 0" in figure.texts[0].get_text()


def test_figure_registry_refuses_duplicate_names():
    assert {"figure2", "lowest_bin_tokens"} <= set(FIGURES)
    with pytest.raises(ProbscopeError, match="figure 'figure2' is already registered"):
        register_figure("figure2")(lambda tokens: None)
    with pytest.raises(ProbscopeError, match="did you mean 'figure2'"):
        FIGURES.get("figure_2")


# ---- export -----------------------------------------------------------------------------------------------
def test_export_writes_non_empty_images_and_tables(runs_root, tokens, tmp_path):
    paths = ps.export_figures(runs_root, tmp_path / "out", formats=("png", "pdf"))
    names = sorted(path.name for path in paths)
    assert names == sorted(f"{figure}.{ext}" for figure in FIGURES for ext in ("png", "pdf", "csv"))
    for path in paths:
        assert path.stat().st_size > 1000 if path.suffix != ".csv" else path.stat().st_size > 0
    assert (tmp_path / "out" / "figure2.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "out" / "figure2.pdf").read_bytes().startswith(b"%PDF")
    histogram = pl.read_csv(tmp_path / "out" / "figure2.csv")
    assert histogram["count"].to_list() == ps.probability_histogram(tokens)["count"].to_list()
    listing = pl.read_csv(tmp_path / "out" / "lowest_bin_tokens.csv")
    assert listing.height == ps.lowest_bin_tokens(tokens).height
    assert not list((tmp_path / "out").glob(".*.tmp"))                 # atomic writes leave no temp files


def test_export_rejects_unknown_formats_and_figures(runs_root, tmp_path):
    with pytest.raises(ProbscopeError, match="format\\(s\\) jpx not supported; choose from .*png"):
        ps.export_figures(runs_root, tmp_path, formats=("png", "jpx"))
    with pytest.raises(ProbscopeError, match="figure\\(s\\) nope not registered"):
        ps.export_figures(runs_root, tmp_path, figures=["nope"])
    assert not list(tmp_path.iterdir())                                # checked before any work


# ---- CLI ----------------------------------------------------------------------------------------------------
def test_cli_export_success_prints_one_summary_line(runs_root, tmp_path, capsys):
    assert main(["export", "--runs", str(runs_root), "--out", str(tmp_path), "--format", "png", "--step", "5,10"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("probscope export: wrote 4 files")
    assert (tmp_path / "figure2.png").stat().st_size > 0


def _missing(tmp_path):
    return tmp_path / "missing"


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _without_probe_tables(tmp_path):
    Run(tmp_path / "runs" / "sft").write_manifest(Manifest(name="sft", method="sft"))
    return tmp_path / "runs"


@pytest.mark.parametrize("make_runs, message", [
    (_missing, "runs directory does not exist"),
    (_empty, "no runs found"),
    (_without_probe_tables, "no finished probe tables for dataset 'train'"),
])
def test_cli_export_bad_runs_directory_is_one_line_error(make_runs, message, tmp_path, capsys):
    runs = make_runs(tmp_path)
    code = main(["export", "--runs", str(runs), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("probscope export: error: ")
    assert message in err[0] and str(runs) in err[0] and "probscope demo --no-serve" in err[0]
    assert not (tmp_path / "out").exists()


def test_cli_export_bad_step_is_one_line_error(runs_root, tmp_path, capsys):
    assert main(["export", "--runs", str(runs_root), "--out", str(tmp_path), "--step", "latest"]) == 2
    assert capsys.readouterr().err.strip() == (
        "probscope export: error: --step: 'latest' is not 'last', 'all' or comma-separated step numbers")
