"""Figure 2, the lowest-bin figure, the figures of every analysis, batch export and `probscope export`.

    .venv/bin/pytest tests/plots/test_plots.py -q
"""

import matplotlib.colors
import polars as pl
import pytest
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
    for container, method in zip(containers, ("base", "sft", "dft"), strict=False):
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
    assert not figure.axes[0].axison and figure.axes[0].texts[0].get_text() == "No tokens to plot"


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
    ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens.head(0)), upper=0.0, ax=empty)
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
    figure = ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens.head(0)), upper=0.0)
    assert "No token has p < 0" in figure.axes[0].texts[0].get_text()


def test_figure_registry_refuses_duplicate_names():
    assert {"figure2", "lowest_bin_tokens"} <= set(FIGURES)
    with pytest.raises(ProbscopeError, match="figure 'figure2' is already registered"):
        register_figure("figure2")(lambda tokens: None)
    with pytest.raises(ProbscopeError, match="did you mean 'figure2'"):
        FIGURES.get("figure_2")


# ---- the other figures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def all_steps(runs_root):
    return ps.load_tokens(runs_root, steps="all", lazy=True)


def test_step_histograms_draw_one_ridge_per_step_in_method_colours(all_steps):
    hist = ps.step_histograms(all_steps)
    figure = ps.plot_step_histograms(hist)
    assert [ax.get_title() for ax in figure.axes] == ["Base · base", "SFT · sft", "DFT · dft"]
    sft = figure.axes[1]
    assert [t.get_text() for t in sft.get_yticklabels()] == ["step 5", "step 10"]
    assert len(sft.collections) == 2
    face = sft.collections[0].get_facecolor()[0]
    assert matplotlib.colors.to_hex(face, keep_alpha=False) == schema.METHOD_COLORS["sft"]


def test_extreme_bin_shares_one_line_per_run(all_steps):
    shares = ps.extreme_bin_shares(all_steps)
    figure = ps.plot_extreme_bin_shares(shares)
    lowest, highest = figure.axes
    lines = {line.get_label(): line for line in highest.get_lines()}
    assert set(lines) == {"Base · base", "SFT · sft", "DFT · dft"}
    assert list(lines["DFT · dft"].get_ydata()) == shares.filter(run="dft")["highest_share"].to_list()
    assert matplotlib.colors.to_hex(lines["DFT · dft"].get_color()) == schema.METHOD_COLORS["dft"]


def test_movers_statistics_gradient_class_and_left_behind_figures(tokens, all_steps):
    before, after = all_steps.filter(run="sft", step=5), all_steps.filter(run="sft", step=10)
    movers = ps.token_movers(before, after, top=4)
    (ax,) = ps.plot_token_movers(movers).axes
    assert [bar.get_width() for bar in bar_containers(ax)[0]] == pytest.approx(movers["delta"].to_list())

    table = ps.distribution_statistics(tokens.filter(method="sft"), tokens.filter(method="dft"),
                                       labels=("sft", "dft"), n_boot=50)
    figure = ps.plot_distribution_statistics(table)
    assert len(figure.axes) == 6 and figure.axes[0].get_title() == "Kolmogorov–Smirnov D"

    mass = ps.gradient_mass_by_bin(tokens)
    figure = ps.plot_gradient_mass(mass)
    assert [ax.get_title() for ax in figure.axes] == ["Base", "SFT", "DFT"]
    sft_bars = bar_containers(figure.axes[2])[0]                                   # objective sft on DFT's tokens
    assert [b.get_height() for b in sft_bars] == pytest.approx(
        mass.filter(method="dft", objective="sft").sort("bin")["mass_share"].to_list())
    assert matplotlib.colors.to_hex(sft_bars[0].get_facecolor()) == schema.METHOD_COLORS["sft"]

    classes = ps.class_histogram(tokens)
    figure = ps.plot_class_histogram(classes)
    dft = figure.axes[2]
    stacked = [sum(c[i].get_height() for c in bar_containers(dft)) for i in range(len(schema.BIN_LABELS))]
    filled = classes.filter(method="dft").group_by("bin").agg(pl.col("count").sum()).sort("bin")["count"].to_list()
    assert stacked == pytest.approx([1.0 if n else 0.0 for n in filled])

    behind = ps.left_behind_table(tokens)
    (ax,) = ps.plot_left_behind(behind).axes
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "end of reply"
    assert [c.get_label() for c in bar_containers(ax)] == ["Base", "SFT", "DFT"]


def test_every_plot_of_empty_input_uses_the_one_nothing_to_show_figure():
    empty = pl.DataFrame()
    for plot, table in ((ps.plot_step_histograms, empty), (ps.plot_extreme_bin_shares, empty),
                        (ps.plot_token_movers, empty), (ps.plot_distribution_statistics, empty),
                        (ps.plot_gradient_mass, empty), (ps.plot_left_behind, empty),
                        (ps.plot_training_dynamics, empty), (ps.plot_lowest_bin_tokens, empty)):
        figure = plot(table)
        (ax,) = figure.axes
        assert not ax.axison and len(ax.texts) == 1, plot.__name__


# ---- export -----------------------------------------------------------------------------------------------
EXPORTED = ("figure2", "lowest_bin_tokens", "step_histograms", "extreme_bin_shares", "token_movers",
            "distribution_statistics", "gradient_mass", "class_histogram", "left_behind")


def test_export_writes_every_figure_with_its_tables(runs_root, tokens, tmp_path):
    paths = ps.export_figures(runs_root, tmp_path / "out", formats=("png", "svg"), progress=False)
    assert set(FIGURES) == {*EXPORTED, "accuracy_curves"}   # the fixture runs hold no evaluations to draw
    names = sorted(path.name for path in paths)
    assert names == sorted(f"{figure}.{ext}" for figure in EXPORTED for ext in ("png", "svg", "csv", "md"))
    for path in paths:
        assert path.stat().st_size > 1000 if path.suffix in (".png", ".svg") else path.stat().st_size > 0
    assert (tmp_path / "out" / "figure2.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "out" / "figure2.svg").read_bytes()[:500]
    histogram = pl.read_csv(tmp_path / "out" / "figure2.csv")
    assert histogram["count"].to_list() == ps.probability_histogram(tokens)["count"].to_list()   # last steps
    listing = pl.read_csv(tmp_path / "out" / "lowest_bin_tokens.csv")
    assert listing.height == ps.lowest_bin_tokens(tokens).height
    steps = pl.read_csv(tmp_path / "out" / "step_histograms.csv")
    assert steps.select("run", "step").unique().height == 5                     # every probed step
    markdown = (tmp_path / "out" / "figure2.md").read_text().splitlines()
    assert markdown[0] == "| " + " | ".join(histogram.columns) + " |" and len(markdown) == histogram.height + 2
    assert not list((tmp_path / "out").glob(".*.tmp"))                 # atomic writes leave no temp files


def test_markdown_table_escapes_and_rounds():
    table = pl.DataFrame({"token": ["a|b", None], "share": [1 / 3, 2.0]})
    assert ps.plots.markdown_table(table) == "| token | share |\n|---|---|\n| a\\|b | 0.3333 |\n|  | 2 |\n"


def test_export_rejects_unknown_formats_and_figures(runs_root, tmp_path):
    with pytest.raises(ProbscopeError, match="format\\(s\\) jpx not supported; choose from .*png"):
        ps.export_figures(runs_root, tmp_path, formats=("png", "jpx"))
    with pytest.raises(ProbscopeError, match="unknown figure 'figure_2' \\(did you mean 'figure2'\\?\\)"):
        ps.export_figures(runs_root, tmp_path, figures=["figure_2"])
    assert not list(tmp_path.iterdir())                                # checked before any work


# ---- CLI ----------------------------------------------------------------------------------------------------
def test_cli_export_selects_runs_and_steps(runs_root, tmp_path, capsys):
    assert main(["export", "--runs", str(runs_root), "--out", str(tmp_path), "--format", "png", "--steps", "5,10",
                 "--runs-filter", "sft*,d?t", "--figure", "figure2", "--figure", "extreme_bin_shares"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("probscope export: wrote 6 files (figure2, extreme_bin_shares as ")
    shares = pl.read_csv(tmp_path / "extreme_bin_shares.csv")
    assert shares.select("run", "step").rows() == [("dft", 5), ("dft", 10), ("sft", 5), ("sft", 10)]   # no base
    assert main(["export", "--runs", str(runs_root), "--out", str(tmp_path), "--runs-filter", "ppo*"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"probscope export: error: {runs_root}: no run matches --runs-filter ppo* (runs: base, dft, sft)")


def test_cli_export_missing_step_lists_the_finished_ones(runs_root, tmp_path, capsys):
    assert main(["export", "--runs", str(runs_root), "--out", str(tmp_path), "--steps", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("probscope export: error: ")
    assert "step(s) 7 (finished: base: 0; dft: 5, 10; sft: 5, 10)" in err


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
    assert main(["export", "--runs", str(runs_root), "--out", str(tmp_path), "--steps", "latest"]) == 2
    assert capsys.readouterr().err.strip() == (
        "probscope export: error: --steps: 'latest' is not 'last', 'all' or comma-separated step numbers")


def test_method_colours_are_the_schemas_and_unknown_ones_never_borrow_them():
    from probscope.plots.style import method_color

    assert [method_color(m) for m in schema.METHOD_ORDER] == [schema.METHOD_COLORS[m] for m in schema.METHOD_ORDER]
    unknown = {method_color("power", i) for i in range(3)}
    assert len(unknown) == 3 and not unknown & set(schema.METHOD_COLORS.values())


def test_every_role_has_a_colour_no_method_uses():
    assert set(schema.ROLE_COLORS) == set(schema.ROLES)
    assert not {role_color(r) for r in schema.ROLES} & set(schema.METHOD_COLORS.values())
    assert len({role_color(r) for r in schema.ROLES}) == len(schema.ROLES)
