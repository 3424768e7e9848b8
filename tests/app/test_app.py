"""The Streamlit dashboard (app/main.py): every page and its main widgets, headless with AppTest.

    .venv/bin/pytest tests/app/test_app.py -q

The fixture runs (tests/helpers.py: build_dashboard_runs) gain the dashboard shows beyond probe tables:
training configs, training dynamics, benchmark evaluations and a second probed dataset.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from altair.utils.schemapi import validate_jsonschema
from altair.vegalite.v6.schema.core import load_schema as vega_lite_schema
from conftest import REPO
from helpers import PROBLEMS, build_dashboard_runs, build_fixture_runs, eval_samples, markdown_text
from streamlit.testing.v1 import AppTest

from probscope import schema
from probscope.app.dashboard import PAGES, VIEWS
from probscope.runs import PROBE_DONE, Manifest, Run

APP = REPO / "app" / "main.py"
PAGE = {title: str(VIEWS / file) for file, title in PAGES}
@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return build_dashboard_runs(tmp_path_factory.mktemp("runs"))


# ---- helpers -------------------------------------------------------------------------------------------------
def start(runs_dir, monkeypatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("PROBSCOPE_RUNS", str(runs_dir))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    if page is not None:
        app.switch_page(PAGE[page]).run()
    return app


def assert_clean(app: AppTest) -> None:
    """No exception or error box, and every chart a valid Vega-Lite spec (the app skips Altair's validation)."""
    assert not app.exception, [e.value for e in app.exception]
    for chart in charts(app):
        validate_jsonschema(chart_spec(chart), vega_lite_schema())
    assert not app.error, [e.value for e in app.error]


def charts(app: AppTest) -> list:
    return app.get("vega_lite_chart")


def chart_data(chart) -> pl.DataFrame:
    """The rows a chart sends to the browser (its first dataset: a layered chart may send more)."""
    return pl.read_ipc_stream(io.BytesIO(chart.proto.datasets[0].data.data))


def headers(table) -> list[str]:
    """The column headers a table shows (its column configuration's labels), hidden columns left out."""
    config = json.loads(table.proto.columns)
    return [config.get(column, {}).get("label", column) for column in table.value.columns
            if not config.get(column, {}).get("hidden")]


def chart_spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def show_view(app: AppTest, page: str, view: str) -> AppTest:
    app.radio(key=f"view:{page}").set_value(view).run()
    assert_clean(app)
    assert app.query_params["view"] == view                                   # the view is in the URL
    return app


def texts(app: AppTest) -> str:
    return "\n".join(m.value for m in [*app.markdown, *app.caption, *app.info])


# ---- pages -------------------------------------------------------------------------------------------------
def test_landing_page_is_the_overview_with_figure2_at_the_final_steps(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch)
    assert_clean(app)
    assert app.title[0].value == "Overview"
    assert app.sidebar.multiselect(key="runs").value == ["base", "dft", "sft"]
    figure2 = chart_data(charts(app)[0])
    # every label names its step; colours are the methods' (schema.METHOD_COLORS), bins the paper's
    assert set(figure2["series"]) == {"Base · step 0", "SFT · step 10", "DFT · step 10"}
    scale = chart_spec(charts(app)[0])["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=False)) == {
        "Base · step 0": schema.METHOD_COLORS["base"], "SFT · step 10": schema.METHOD_COLORS["sft"],
        "DFT · step 10": schema.METHOD_COLORS["dft"]}
    assert set(figure2["bin_label"]) <= set(schema.BIN_LABELS)
    for _, rows in figure2.group_by("series"):
        assert rows["percent"].sum() == pytest.approx(100.0)
    runs_table, polarization = (table.value for table in app.dataframe[:2])
    assert sorted(runs_table["run"]) == ["base", "dft", "sft"]
    assert set(polarization["step"]) == {0, 10}
    assert "end of reply" in texts(app)                                 # diagnose's findings per run
    assert any(b.proto.label.startswith("Download") for b in app.get("download_button"))
    # the sidebar's swatches as st.html: Markdown with HTML would fetch its 190 KB HTML parser on every page
    legend = app.sidebar.get("html")[0].proto.body
    for name in ("base", "sft", "dft"):
        assert f'color:{schema.METHOD_COLORS[name]}">&#9632;</span>&nbsp;{schema.method_label(name)} · {name}' in legend


@pytest.mark.parametrize("page", [title for _, title in PAGES])
def test_every_page_renders_without_error(page, runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, page)
    assert_clean(app)
    assert app.title[0].value == page
    expected_charts = {"Overview": 1, "Distributions": 1, "Tokens": 1, "Gradient weights": 1, "Benchmarks": 1,
                       "Runs": 0}[page]
    assert len(charts(app)) == expected_charts
    views = app.radio(key=f"view:{page}").options if page not in ("Overview", "Benchmarks", "Runs") else []
    for view in views:                                                        # every view of the page renders
        app.radio(key=f"view:{page}").set_value(view).run()
        assert_clean(app)


def test_sidebar_step_reaches_the_charts_and_labels(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Distributions")
    before = chart_data(charts(app)[0])
    step = app.sidebar.selectbox(key="step:sft")
    assert step.options == ["step 5", "step 10"] and step.value == 10
    step.set_value(5).run()
    assert_clean(app)
    after = chart_data(charts(app)[0])
    assert "SFT · step 5" in set(after["series"]) and "SFT · step 10" not in set(after["series"])
    sft = [frame.filter(pl.col("series").str.starts_with("SFT"))["count"] for frame in (before, after)]
    assert not sft[0].equals(sft[1])
    assert app.query_params["steps"] == "base:0,dft:10,sft:5"


def test_step_slider_moves_every_run(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Distributions")
    app.select_slider(key="all_step").set_value(5).run()
    assert_clean(app)
    assert app.sidebar.selectbox(key="step:sft").value == 5 and app.sidebar.selectbox(key="step:dft").value == 5
    assert app.sidebar.selectbox(key="step:base").value == 0                  # base has nothing later than 0


def test_one_run_over_training_and_summary(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Distributions"), "Distributions", "Over training")
    assert app.selectbox(key="over_run").value == "dft"                       # the first run with several steps
    over = chart_data(charts(app)[0])
    assert set(over["series"]) == {"DFT · step 5", "DFT · step 10"}
    app.radio(key="over_layout").set_value("Small multiples").run()
    assert_clean(app)
    assert "facet" in chart_spec(charts(app)[0])
    show_view(app, "Distributions", "Summary and statistics")
    summary = app.dataframe[0].value
    assert summary.shape[0] == 5                                              # base 0, sft 5/10, dft 5/10
    tokens = pl.concat([pl.read_parquet(p)
                        for p in sorted((runs_root / "dft/probes/train/step-000010").glob("*.parquet"))])
    dft10 = summary[(summary["run"] == "dft") & (summary["step"] == 10)]
    assert dft10["mean_p"].item() == pytest.approx(tokens["p"].mean())
    assert dft10["below_0.1"].item() == pytest.approx(100 * (tokens["p"] < 0.1).mean())      # shown as %
    assert {"Mean p", "NLL (nats)", "Top-1 accuracy", "Polarization"} <= set(headers(app.dataframe[0]))
    app.toggle(key="compute_statistics").set_value(True).run()                 # bootstrap only on demand
    assert_clean(app)
    statistics = app.dataframe[1].value
    assert {"ks", "js_divergence", "polarization"} <= set(statistics["statistic"])
    assert (statistics["ci_low"] <= statistics["ci_high"]).all()


def test_paired_view_counts_matched_tokens(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Distributions"), "Distributions", "Same tokens")
    pairs = chart_data(charts(app)[0])
    assert pairs["count"].sum() == 40 * 30                                    # every token of an example matches
    assert pairs["percent"].sum() == pytest.approx(100.0)


def test_paired_view_says_how_many_positions_hold_other_tokens(tmp_path, monkeypatch):
    import probscope.app.data as data
    from probscope.analysis.summary import TokenAlignment, token_alignment

    seen = []

    def counted(a, b):   # the real alignment, then 30 positions reported as mismatched
        seen.append(token_alignment(a, b))
        return TokenAlignment(seen[-1].paired, 30)

    monkeypatch.setattr(data, "token_alignment", counted)
    app = show_view(start(build_dashboard_runs(tmp_path), monkeypatch, "Distributions"), "Distributions", "Same tokens")
    assert seen and seen[-1].mismatched == 0                 # the fixture's checkpoints hold the same tokens
    warning = " ".join(w.value for w in app.warning)
    assert f"30 of the {seen[-1].paired:,} positions" in warning and "left out" in warning


def test_dataset_switch_keeps_each_datasets_runs(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch)
    app.sidebar.multiselect(key="runs").set_value(["base", "dft"]).run()
    app.sidebar.selectbox(key="dataset").set_value("facts-train").run()
    assert_clean(app)
    assert app.sidebar.multiselect(key="runs").value == ["base"]              # the only run probed on it
    app.sidebar.selectbox(key="dataset").set_value("train").run()
    assert app.sidebar.multiselect(key="runs").value == ["base", "dft"]       # the choice made on train is back


def test_selection_is_read_from_the_url(runs_root, monkeypatch):
    monkeypatch.setenv("PROBSCOPE_RUNS", str(runs_root))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update({"runs": "dft", "steps": "dft:5"})
    app.run()
    assert_clean(app)
    assert app.sidebar.multiselect(key="runs").value == ["dft"]
    assert app.sidebar.selectbox(key="step:dft").value == 5


def test_tokens_page_lists_zero_counts_and_the_upper_tail(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Tokens")
    assert_clean(app)
    app.number_input(key="threshold").set_value(1e-9).run()
    assert_clean(app)
    assert "Base · step 0: 0 tokens" in texts(app).replace("**", "")      # a run with none says 0, not vanish
    assert any("No selected run has a token with p < 1e-09" in i.value for i in app.info)
    assert all(table.proto.placeholder == "–" for table in app.dataframe)      # 0 of 0 reads "–", not "None"
    app.radio(key="tail").set_value("at_or_above").run()
    app.number_input(key="threshold").set_value(0.9).run()
    assert_clean(app)
    listing = chart_data(charts(app)[0])
    high = pl.concat([pl.read_parquet(p)
                      for p in sorted((runs_root / "dft/probes/train/step-000010").glob("*.parquet"))])
    top = high.filter(pl.col("p") >= 0.9).group_by("token").len().sort("len", "token", descending=[True, False])
    dft = listing.filter(pl.col("run") == "dft").sort("rank")
    assert dft["token"][0] == top["token"][0] and dft["count"][0] == top["len"][0]


def test_movers_and_left_behind_tables(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Tokens"), "Tokens", "Movers")
    shown = [headers(t) for t in app.dataframe]
    assert any("Change in mean p" in h for h in shown)                       # token movers
    show_view(app, "Tokens", "Left behind")
    shown += [headers(t) for t in app.dataframe]
    assert any("Share below" in h for h in shown)                            # tokens left behind
    assert not any(name in h for h in shown for name in ("low_count", "all_share", "token_id", "lo", "hi"))


def test_example_viewer_colours_one_example_and_jumps_to_a_token(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Tokens"), "Tokens", "Example viewer")
    reply = next(m.value for m in app.markdown if "probscope-reply" in m.value)
    assert reply.count("<span title=") == 30                                  # every target token of the example
    assert "p = " in reply and "rank " in reply and "entropy " in reply
    app.selectbox(key="example_b").set_value(("dft", 5)).run()
    assert_clean(app)
    assert sum("probscope-reply" in m.value for m in app.markdown) == 2      # two checkpoints side by side
    token = app.selectbox(key="example_token").options[1]
    app.selectbox(key="example_token").set_value(token.strip("'\"")).run()
    assert_clean(app)
    example = app.selectbox(key="example").value
    assert app.query_params["example"] == example


def test_gradient_page_draws_training_curves_and_asks_when_no_run_is_chosen(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Gradient weights")
    mass = chart_data(charts(app)[0])
    for _, rows in mass.group_by("series", "objective"):
        assert rows["mass_share"].sum() == pytest.approx(1.0)
    show_view(app, "Gradient weights", "Training curves")
    curves = chart_data(charts(app)[0]).filter(pl.col("value").is_not_null())
    assert set(curves["run"]) == {"dft", "sft"} and curves["panel"].n_unique() == 4
    dft_loss = curves.filter((pl.col("run") == "sft") & (pl.col("panel") == "DFT loss of the batch")).sort("step")
    assert dft_loss["value"].to_list() == pytest.approx([0.1 * step for step in (1, 2, 3, 4)])
    show_view(app, "Gradient weights", "Weights while training")
    assert len(charts(app)) == 1
    app.sidebar.multiselect(key="runs").set_value([]).run()
    assert_clean(app)
    assert any("Choose at least one run" in i.value for i in app.info) and not charts(app)


def test_benchmarks_page_curves_and_generations(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Benchmarks")
    assert_clean(app)
    curves = chart_data(charts(app)[0])
    sft5 = curves.filter((pl.col("run") == "sft") & (pl.col("step") == 5))["value"].item()
    assert sft5 == pytest.approx(eval_samples(1, 5)["correct"].mean())       # sft is run index 1 above
    problems = next(t.value for t in app.dataframe if "Problem" in t.value.columns or "problem_id" in t.value.columns)
    assert problems.shape[0] == PROBLEMS


def test_runs_page_shows_hyper_parameters_and_findings(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Runs")
    assert_clean(app)
    metrics, contents, settings = (app.dataframe[i].value for i in range(3))   # metrics: tests/app/test_metrics.py
    assert sorted(metrics["run"]) == sorted(contents["Run"]) == ["base", "dft", "sft"]
    assert "training.learning_rate" in settings["Setting"].tolist()
    assert "training.max_steps" not in settings["Setting"].tolist()          # same in every run: hidden
    findings = app.dataframe[3].value
    assert any("step-000020" in path for path in findings["path"])          # the unfinished sft probe
    assert headers(app.dataframe[3]) == ["Kind", "Path", "Problem", "Fix"]


def test_runs_checks_are_cached_until_a_file_under_the_runs_changes(tmp_path, monkeypatch):
    from probscope.app import data
    from probscope.integrity import check_runs

    root = str(build_fixture_runs(tmp_path))
    calls = []
    monkeypatch.setattr(data, "check_runs", lambda path: calls.append(path) or check_runs(path))
    data._findings.clear()
    before = data.findings(root)
    assert data.findings(root) == before == check_runs(root) and len(calls) == 1     # a rerun checks nothing
    part = sorted(Run(tmp_path / "sft").probe_dir(10).glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])                                        # a truncated probe part
    after = data.findings(root)
    assert len(calls) == 2 and after == check_runs(root)
    new = [finding for finding in after if finding not in before]
    assert any(finding.kind == "corrupt" and finding.path in (part, part.parent) for finding in new), new


# ---- bad input -------------------------------------------------------------------------------------------------
def test_runs_dir_from_command_line(runs_root, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["app/main.py", "--runs", str(runs_root)])
    app = start(tmp_path / "not-this-one", monkeypatch)                       # the flag wins over the env var
    assert_clean(app)
    assert app.sidebar.text_input(key="runs_dir").value == str(runs_root)


@pytest.mark.parametrize("page", [title for _, title in PAGES])
def test_no_runs_explains_how_to_build_them(page, tmp_path, monkeypatch):
    app = start(tmp_path, monkeypatch, page)
    assert_clean(app)
    (info,) = app.info
    assert "no runs found" in info.value and "make demo" in info.value


def test_typed_path_that_does_not_exist_then_a_good_one(runs_root, tmp_path, monkeypatch):
    app = start(runs_root, monkeypatch)
    app.sidebar.text_input(key="runs_dir").set_value(str(tmp_path / "missing")).run()
    assert_clean(app)
    assert "does not exist" in app.info[0].value and "make demo" in app.info[0].value
    app.sidebar.text_input(key="runs_dir").set_value(str(runs_root)).run()
    assert_clean(app)
    assert charts(app)


def test_runs_without_probe_tables(tmp_path, monkeypatch):
    Run(tmp_path / "sft").write_manifest(Manifest(name="sft", method="sft"))
    app = start(tmp_path, monkeypatch)
    assert_clean(app)
    assert "probscope probe" in app.info[-1].value
    app.switch_page(PAGE["Runs"]).run()                                        # the runs themselves still show
    assert_clean(app)
    assert app.dataframe[0].value["Run"].tolist() == ["sft"]


def test_corrupt_manifest_and_half_written_probe(tmp_path, monkeypatch):
    root = build_fixture_runs(tmp_path)
    (root / "base" / "manifest.json").write_text("{not json")
    (Run(root / "dft").probe_dir(10) / PROBE_DONE).unlink()                   # dft's last probe half-written
    app = start(root, monkeypatch)
    assert not app.exception
    assert "base/manifest.json" in markdown_text(app.sidebar.warning[0].value)   # named, the others still work
    assert app.sidebar.multiselect(key="runs").value == ["dft", "sft"]
    assert app.sidebar.selectbox(key="step:dft").options == ["step 5"]
    for page in PAGE:
        app.switch_page(PAGE[page]).run()
        assert not app.exception, (page, [e.value for e in app.exception])


def test_corrupt_probe_table_is_one_readable_line(tmp_path, monkeypatch):
    root = build_fixture_runs(tmp_path)
    for part in Run(root / "dft").probe_dir(10).glob("part-*.parquet"):
        part.write_bytes(b"not parquet")
    app = start(root, monkeypatch, "Distributions")
    assert not app.exception
    assert app.error and all("\n" not in e.value for e in app.error)
    assert app.sidebar.multiselect(key="runs").value                           # the sidebar keeps working


def test_run_deleted_while_open(tmp_path, monkeypatch):
    root = build_fixture_runs(tmp_path)
    app = start(root, monkeypatch, "Tokens")
    shutil.rmtree(root / "dft")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.sidebar.multiselect(key="runs").value == ["base", "sft"]


# ---- issue 19: the defects a researcher saw, each reproduced ---------------------------------------------------
def test_step_slider_leaves_the_bases_pretraining_step_out(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Distributions")
    assert app.select_slider(key="all_step").options == ["step 5", "step 10"]   # not base's step 0 (800 in the demo)
    assert app.select_slider(key="all_step").value == 10


def test_base_is_drawn_at_the_start_of_fine_tuning():
    from probscope.app.charts import on_fine_tuning_axis

    curves = pl.DataFrame({schema.METHOD: ["base", "sft"], schema.STEP: [800, 50]})
    moved = on_fine_tuning_axis(curves)
    assert moved[schema.STEP].to_list() == [0, 50] and moved["pretrained"].to_list() == [800, None]


def test_every_dataset_names_its_runs(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch)
    assert app.sidebar.selectbox(key="dataset").options == ["facts-train (1 run)", "train (3 runs)"]
    assert "facts-train (1 run)" in "\n".join(markdown_text(c.value) for c in app.sidebar.caption)


def url_text(value) -> str:
    """A widget's value as a link writes it: lists comma-joined, checkpoints and evaluations colon-joined."""
    if isinstance(value, (list, tuple)):
        return ("," if isinstance(value, list) else ":").join(map(str, value))
    return str(value)


def test_every_widget_of_a_view_is_read_from_the_url(runs_root, monkeypatch):
    monkeypatch.setenv("PROBSCOPE_RUNS", str(runs_root))
    links = {
        "Tokens": {"view": "Example viewer", "example_a": "sft:10", "example_b": "dft:5", "example_below": "0.001"},
        "Distributions": {"view": "Same tokens", "pair_a": "dft:5", "pair_b": "sft:10"},
        "Gradient weights": {"view": "Gradient mass per bin", "mass_objectives": "dft"},
        "Benchmarks": {"metric": "pass_at_k", "eval_checkpoint": "dft:builtin-test:5", "problem": "p1"},
    }
    for page, params in links.items():
        app = AppTest.from_file(str(APP), default_timeout=60)
        app.query_params.update(params)
        app.switch_page(PAGE[page]).run()
        assert_clean(app)
        for key, value in params.items():
            if key not in ("view", "problem"):
                assert url_text(app.session_state[key]) == value, (page, key)
            assert app.query_params[key] == value, (page, key)                 # and written back
    assert "Problem p1" in texts(app)


def test_overview_counts_tokens_below_0_1_and_tokens_says_what_it_counts(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch)
    assert {"p < 0.1", "p ≥ 0.9"} <= set(headers(app.dataframe[1]))
    app.switch_page(PAGE["Tokens"]).run()
    assert "Counted" in headers(app.dataframe[0])


def test_a_damaged_probe_blanks_only_its_run(tmp_path, monkeypatch):
    root = build_fixture_runs(tmp_path)
    for part in Run(root / "dft").probe_dir(10).glob("part-*.parquet"):
        part.write_bytes(b"not parquet")
    app = start(root, monkeypatch)
    assert not app.exception
    assert any("Figure 2 of dft" in e.value for e in app.error)
    assert set(chart_data(charts(app)[0])["series"]) == {"Base · step 0", "SFT · step 10"}


def test_a_damaged_probe_spares_the_other_runs_findings(tmp_path, monkeypatch):
    """The Overview diagnoses every run in one read; a damaged run is then diagnosed on its own."""
    root = build_fixture_runs(tmp_path)
    for part in Run(root / "dft").probe_dir(10).glob("part-*.parquet"):
        part.write_bytes(b"not parquet")
    app = start(root, monkeypatch)
    assert [e.value.split(":")[0] for e in app.error if e.value.startswith("Findings")] == ["Findings for dft"]
    shown = [markdown_text(m.value) for m in app.markdown]
    assert sum("tokens with p < 0.1 at the final step" in text for text in shown) == 2   # base, sft


def test_a_non_utf8_manifest_names_itself_and_spares_the_others(tmp_path, monkeypatch):
    root = build_fixture_runs(tmp_path)
    (root / "base" / "manifest.json").write_bytes(b'{"name": "\xff\xfe"}')
    app = start(root, monkeypatch)
    assert "base/manifest.json" in markdown_text(app.sidebar.warning[0].value)
    assert app.sidebar.multiselect(key="runs").value == ["dft", "sft"]
    for page in PAGE:
        app.switch_page(PAGE[page]).run()
        assert not app.exception, (page, [e.value for e in app.exception])


def test_the_sidebar_holds_one_step_widget_beyond_a_few_runs(runs_root, monkeypatch):
    from probscope.app import dashboard

    monkeypatch.setattr(dashboard, "MAX_STEP_WIDGETS", 2)
    app = start(runs_root, monkeypatch, "Distributions")
    steps = [box for box in app.sidebar.selectbox if box.key and box.key.startswith("step:")]
    assert len(steps) == 1 and app.sidebar.selectbox(key="step_run").options == ["base", "dft", "sft"]
    app.sidebar.selectbox(key="step_run").set_value("sft").run()
    app.sidebar.selectbox(key="step:sft").set_value(5).run()
    app.sidebar.selectbox(key="step_run").set_value("dft").run()               # sft's step is remembered
    assert_clean(app)
    assert app.query_params["steps"] == "base:0,dft:10,sft:5"


def test_auto_refresh_sees_what_a_job_adds_and_names_runs_being_built(tmp_path, monkeypatch):
    from probscope.app.state import runs_signature

    root = build_fixture_runs(tmp_path)
    before = runs_signature(str(root))
    assert len(before) == 3 + 5 + 5                                            # manifests, checkpoints, finished probes
    (Run(root / "sft").probe_dir(20) / PROBE_DONE).write_text("{}")            # sft's step-20 probe finishes
    assert runs_signature(str(root)) != before
    manifest = Run(root / "dft").read_manifest()
    manifest.status = "running"
    Run(root / "dft").write_manifest(manifest)
    app = start(root, monkeypatch)
    app.sidebar.toggle(key="live").set_value(True).run()
    assert_clean(app)
    assert app.query_params["live"] == "True"
    assert "Still being built: dft" in "\n".join(c.value for c in app.sidebar.caption)


def test_token_texts_take_the_tokenizers_own_spacing():
    from tokenizers import Tokenizer, decoders, models

    from probscope.app.example import reply_html, token_texts

    vocab = {"▁Let": 0, "'": 1, "s": 2, "▁go": 3, ".": 4}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="."))
    tokenizer.decoder = decoders.Metaspace()                                 # SentencePiece's spacing
    texts = token_texts([0, 1, 2, 3, 4], tokenizer.decode)
    assert texts == ["Let", "'", "s", " go", "."] and "".join(texts) == tokenizer.decode([0, 1, 2, 3, 4])
    rows = pl.DataFrame({schema.TOKEN: ["▁Let", "▁go"], schema.P: [0.5, 1e-5], schema.RANK: [1, 9],
                         schema.ENTROPY: [0.1, 2.0], schema.ROLE: [None, "word"]})
    html = reply_html(rows, [" Let", " go"])
    assert "> Let</span>" in html and schema.BIN_COLORS[0] in html            # p < 1e-4: the lowest bin's colour


def test_the_link_to_a_view_holds_its_widgets(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Distributions"), "Distributions", "Same tokens")
    link = app.sidebar.code[-1].value
    assert "view=Same+tokens" in link and "pair_a=" in link and "pair_b=" in link and "steps=" in link


def test_one_run_over_training_as_a_heatmap_with_a_scrubber(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Distributions"), "Distributions", "Over training")
    app.selectbox(key="over_run").set_value("sft").run()
    app.radio(key="over_layout").set_value("Heatmap").run()
    assert_clean(app)
    heat, figure2 = (chart_data(chart) for chart in charts(app))
    assert set(heat["step"]) == {5, 10} and heat.filter(pl.col("step") == 5)["percent"].sum() == pytest.approx(100)
    assert set(figure2["series"]) == {"SFT · step 10"}                         # the scrubber's step
    app.select_slider(key="over_step").set_value(5).run()
    assert set(chart_data(charts(app)[1])["series"]) == {"SFT · step 5"} and app.query_params["over_step"] == "5"


def test_example_search_finds_replies_holding_the_text(runs_root, monkeypatch):
    app = show_view(start(runs_root, monkeypatch, "Tokens"), "Tokens", "Example viewer")
    example = app.selectbox(key="example").value
    tokens = pl.read_parquet(Run(runs_root / "base").probe_dir(0) / "*.parquet").filter(
        pl.col(schema.EXAMPLE_ID) == example).sort(schema.POSITION)[schema.TOKEN].to_list()
    app.text_input(key="example_text").set_value(" ".join(tokens[3:6]).upper()).run()   # spacing and case aside
    assert_clean(app)
    assert any(example in option for option in app.selectbox(key="example").options)
    assert app.query_params["example_text"]
    app.text_input(key="example_text").set_value("no reply holds this").run()
    assert "No example matches." in texts(app)


def test_a_figure2_bin_drills_down_to_its_tokens_and_their_examples(runs_root, monkeypatch):
    app = start(runs_root, monkeypatch, "Distributions")
    app.selectbox(key="drill_bin").set_value(schema.BIN_LABELS[1]).run()       # [1e-4, 1e-3)
    assert_clean(app)
    p = pl.read_parquet(Run(runs_root / "dft").probe_dir(10) / "*.parquet")
    top = (p.filter((pl.col(schema.P) >= 1e-4) & (pl.col(schema.P) < 1e-3)).group_by(schema.TOKEN).len()
           .sort("len", schema.TOKEN, descending=[True, False]).row(0))          # an independent count
    links = next(m.value for m in app.markdown if "DFT · step 10" in m.value)
    line = next(line for line in links.splitlines() if "DFT · step 10" in line)
    assert f"({top[1]:,})](tokens?view=Example+viewer&example_a=dft%3A10&example_token=" in line
    assert "example_below=0.001" in line and app.query_params["drill_bin"] == schema.BIN_LABELS[1]
