"""Runs roots, run folders and dataset folders whose names hold glob characters ([ ] * ? and a space) are read
literally everywhere: the notebook API, `probscope export`, the dashboard and `probscope probe` see exactly the
numbers they see under plain names (issue 20).

The odd runs root sits beside decoy roots that its path, read as a glob pattern, matches (other numbers), and the
run `dft*?` beside a folder `dft-decoy`: a reader that expanded patterns would find no file (`[n]` matches `n`,
not `[n]`) or read a decoy's rows, never the same table. The last tests check the source (every polars reader
is told glob=False) and the siblings: data files, add-run folders, commands suggested to a user.

    .venv/bin/pytest tests/runs/test_glob_characters.py -q
"""

from __future__ import annotations

import ast
import io
import json
import shlex
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from helpers import build_dashboard_runs, build_fixture_runs, every_dashboard_view, save_checkpoint, save_small_llama
from polars.testing import assert_frame_equal

import probscope as ps
from probscope import schema
from probscope.app.dashboard import PAGES
from probscope.app.state import runs_signature
from probscope.cli import main
from probscope.probe.summaries import TABLES, read_summary, summary_record
from probscope.probe.table import read_probe_table
from probscope.runs import MANIFEST, PROBES, Manifest, Run, runs_matching

# fixture name -> (plain name, odd name); neither is the method's name, so the dashboard labels series alike
RUNS = {"base": ("base-0", "base [0]"), "sft": ("sft-lr", "sft[lr=1e-4]"), "dft": ("dft-x", "dft*?")}
DATASETS = {"facts-train": ("facts-train", "facts[1] *?")}
ODD_ROOT = "ru[n]s *?"         # as a pattern: "runs" + anything, e.g. the decoy root below
DECOY_ROOT = "runs ab"
DECOY_RUN = "dft-decoy"        # matched by "dft*?"; not a run (no manifest), its probe files those of sft
ODD_TO_PLAIN = dict(pair[::-1] for pair in [*RUNS.values(), *DATASETS.values()])


def rename(root: Path, odd: bool) -> Path:
    """Give the runs and the second dataset of a fixture runs root their plain or odd names, and add the decoy run
    folder (to both: the plain root holds the same folders)."""
    shutil.copytree(root / "sft" / PROBES, root / DECOY_RUN / PROBES)
    for fixture, names in RUNS.items():
        (root / fixture).rename(root / names[odd])
    for fixture, names in DATASETS.items():
        for probes in root.glob(f"*/{PROBES}"):
            if (probes / fixture).is_dir():
                (probes / fixture).rename(probes / names[odd])
    return root


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> tuple[Path, Path]:
    """(plain root, odd root) holding the same runs (the dashboard fixture's, summarized), under plain and odd
    names; beside the odd root a decoy root its pattern would match, with other numbers."""
    top = tmp_path_factory.mktemp("glob")
    fixture = build_dashboard_runs(top / "fixture")
    plain, odd = top / "plain", top / "odd [x]" / ODD_ROOT
    shutil.copytree(fixture, plain)
    shutil.copytree(fixture, odd)
    rename(plain, odd=False)
    rename(odd, odd=True)
    for root in (plain, odd):   # the analyses read the summary tables where those answer
        assert main(["summarize", str(root)]) == 0
    decoy = build_fixture_runs(top / "odd x" / DECOY_ROOT, seed=1)        # "odd [x]/ru[n]s *?" as a pattern
    assert main(["summarize", str(decoy)]) == 0
    rename(decoy, odd=True)
    shutil.copytree(decoy, top / "odd [x]" / DECOY_ROOT)
    return plain, odd


def as_plain(frame: pl.DataFrame, roots: tuple[Path, Path] | None = None) -> pl.DataFrame:
    """`frame` with the odd run and dataset names in its text columns and column names written as the plain ones
    (and the odd runs root, in paths, as the plain one)."""
    renamed = {str(roots[1]): str(roots[0])} if roots else {}
    renamed.update(ODD_TO_PLAIN)
    return (frame.rename(lambda column: ODD_TO_PLAIN.get(column, column))
            .with_columns(pl.col(pl.String).str.replace_many(list(renamed), list(renamed.values()))))


def assert_same(plain: pl.DataFrame, odd: pl.DataFrame, roots: tuple[Path, Path] | None = None) -> None:
    """Equal, floats to 1e-12 relative: polars' parallel sums may differ in the last bit from one call to the next."""
    assert plain.height > 0
    assert_frame_equal(as_plain(odd, roots), plain, check_exact=False, rel_tol=1e-12, abs_tol=0)


# ---- the notebook API --------------------------------------------------------------------------------------
def test_notebook_api_sees_the_same_numbers(roots):
    plain, odd = roots
    for steps in ("last", "all"):
        tokens = {root: ps.load_tokens(root, steps=steps, lazy=True) for root in roots}
        for analysis in (ps.probability_histogram, ps.lowest_bin_tokens, ps.left_behind_table, ps.step_histograms):
            assert_same(analysis(tokens[plain]), analysis(tokens[odd]))
            assert_frame_equal(analysis(tokens[odd]), analysis(tokens[odd].collect()),   # summaries, then rows
                               check_exact=False, rel_tol=1e-12, abs_tol=0)
        assert_same(tokens[plain].collect().sort(schema.RUN, schema.STEP, schema.EXAMPLE_ID, schema.POSITION),
                    as_plain(tokens[odd].collect()).sort(schema.RUN, schema.STEP, schema.EXAMPLE_ID, schema.POSITION))
    last = {root: ps.load_tokens(root, lazy=True) for root in roots}
    assert_same(ps.pairwise_statistics(last[plain], n_boot=50), ps.pairwise_statistics(last[odd], n_boot=50))
    facts = {root: ps.load_tokens(root, dataset=dataset, lazy=True)
             for root, dataset in ((plain, "facts-train"), (odd, DATASETS["facts-train"][1]))}
    assert_same(ps.probability_histogram(facts[plain]), ps.probability_histogram(facts[odd]))
    assert_same(ps.runs_overview(plain), ps.runs_overview(odd), roots)
    assert_same(ps.load_dynamics(plain), ps.load_dynamics(odd))
    assert_same(ps.load_evals(plain), ps.load_evals(odd))
    findings = {root: ps.check_runs(root) for root in roots}   # the fixture's checkpoints hold no weights
    as_words = {root: pl.DataFrame([(f.kind, str(f.path), f.problem, " ".join(shlex.split(f.fix)))
                                    for f in found], orient="row") for root, found in findings.items()}
    assert_same(as_words[plain], as_words[odd], roots)
    [half_written] = [shlex.split(f.fix) for f in findings[odd] if f.kind == "half-written"]
    assert half_written[half_written.index("--run") + 1] == str(odd / RUNS["sft"][1])   # pasted into a shell


def test_probe_tables_and_summaries_of_odd_folders_are_read_literally(roots):
    plain, odd = roots
    for plain_name, odd_name in RUNS.values():
        for step in Run(plain / plain_name).probed_steps():
            assert_same(read_probe_table(Run(plain / plain_name).probe_dir(step)),
                        read_probe_table(Run(odd / odd_name).probe_dir(step)))
            assert summary_record(Run(odd / odd_name).probe_dir(step)) is not None   # `probscope summarize` wrote them
            for kind in TABLES:
                assert_same(read_summary(Run(plain / plain_name).probe_dir(step), kind),
                            read_summary(Run(odd / odd_name).probe_dir(step), kind))


# ---- probscope export ---------------------------------------------------------------------------------------
# one figure per source (the notebook test reads the rest): probe summaries, several steps' rows, dynamics, evaluations
EXPORTED = ("figure2", "token_movers", "gradient_mass", "accuracy_curves")


def test_export_writes_the_same_tables(roots, tmp_path):
    for root, out in zip(roots, ("plain", "figures [1] *?"), strict=True):
        assert main(["export", "--runs", str(root), "--out", str(tmp_path / out), "--format", "png",
                     *(arg for name in EXPORTED for arg in ("--figure", name))]) == 0
    tables = sorted(path.name for path in (tmp_path / "plain").glob("*.csv"))
    assert tables == sorted(f"{name}.csv" for name in EXPORTED)
    for name in tables:
        assert_same(pl.read_csv(tmp_path / "plain" / name), pl.read_csv(tmp_path / "figures [1] *?" / name, glob=False))


def test_runs_filter_takes_an_odd_name_as_itself(roots, tmp_path):
    _, odd = roots
    assert main(["export", "--runs", str(odd), "--out", str(tmp_path), "--format", "png", "--figure", "figure2",
                 "--runs-filter", f"{RUNS['sft'][1]},{RUNS['dft'][1]}"]) == 0
    assert set(pl.read_csv(tmp_path / "figure2.csv", glob=False)[schema.METHOD]) == {"sft", "dft"}
    names = ["dft*?", "sft[lr=1e-4]", "sftl"]
    assert runs_matching(names, "sft[lr=1e-4]") == ["sft[lr=1e-4]"] and runs_matching(names, "sft[lr]") == ["sftl"]
    assert runs_matching(names, "*[[]*") == ["sft[lr=1e-4]"] and runs_matching(names, "sft*") == names[1:]


# ---- the dashboard ------------------------------------------------------------------------------------------
def unquoted_fixes(frame: pl.DataFrame) -> pl.DataFrame:
    """The Runs page's findings with their fix commands as the words a shell reads (odd paths come quoted)."""
    if "fix" not in frame.columns:
        return frame
    return frame.with_columns(pl.col("fix").map_elements(lambda fix: " ".join(shlex.split(fix)), pl.String))


def page_numbers(root: Path, monkeypatch) -> dict[tuple[str, str], list[pl.DataFrame]]:
    """(page, view) -> the rows of its charts and tables, for every view of every page."""
    shown = {}
    for title, view, app in every_dashboard_view(root, monkeypatch):
        if not title:
            continue
        charts = [pl.read_ipc_stream(io.BytesIO(chart.proto.datasets[0].data.data))
                  for chart in app.get("vega_lite_chart")]
        tables = [pl.from_pandas(table.value.reset_index(drop=True)) for table in app.dataframe]
        shown[title, view] = [unquoted_fixes(frame) for frame in charts + tables]
    return shown


def test_dashboard_pages_show_the_same_numbers(roots, monkeypatch):
    plain, odd = (page_numbers(root, monkeypatch) for root in roots)
    assert len(plain) > len(PAGES) and sum(len(frames) for frames in plain.values()) > len(plain)
    assert list(odd) == list(plain)
    for view, frames in plain.items():
        assert len(odd[view]) == len(frames), view
        for ours, theirs in zip(frames, odd[view], strict=True):
            assert_same(ours, theirs, roots)
    assert len(runs_signature(str(roots[1]))) == len(runs_signature(str(roots[0]))) > 0   # what auto-refresh watches


# ---- a real probe -------------------------------------------------------------------------------------------
def probe_into(root: Path, name: str) -> pl.DataFrame:
    """`probscope probe --run` of a tiny checkpoint of the run `name` under `root`, its table read back."""
    data = root / "data [2]" / "train.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text("".join(json.dumps({"text": " ".join(f"w{(5 * i + j) % 290 + 1}" for j in range(5 + i))}) + "\n"
                            for i in range(3)))
    run = Run(root / name)
    run.write_manifest(Manifest(name=name, method="sft", data=str(data), config={"data_format": {"kind": "text"}}))
    save_checkpoint(run.checkpoint(5))
    assert main(["probe", "--run", str(run.root), "--data", str(data), "--kind", "text", "--device", "cpu"]) == 0
    tokens = ps.load_tokens(root, lazy=True)
    assert_same(ps.probability_histogram(tokens), ps.probability_histogram(tokens.collect()))   # summaries = rows
    return read_probe_table(run.probe_dir(5)).drop(schema.RUN)


def test_probe_writes_into_an_odd_folder_and_reads_back(tmp_path):
    assert_same(probe_into(tmp_path / "plain", "sft"), probe_into(tmp_path / ODD_ROOT, RUNS["sft"][1]))


# ---- an evaluation ------------------------------------------------------------------------------------------
def test_eval_of_an_odd_run_chosen_by_its_own_name(tmp_path):
    """`--runs-filter NAME` evaluates the run NAME even where NAME, as a pattern, matches another run (sftl)."""
    from transformers import AutoTokenizer

    from probscope.builtin.task import TOKENIZER_DIR, TaskConfig, write_builtin_data
    from probscope.evaluate import EvalOptions, SamplingSettings, evaluate_runs, problem_results, read_samples
    from probscope.runs import BUILTIN_DATA

    task = tmp_path / "plain" / BUILTIN_DATA
    write_builtin_data(task, TaskConfig(n_train=20, n_test=4, n_old_people=3, n_new_people=3, n_pretrain_docs=60))
    shutil.copytree(task, tmp_path / ODD_ROOT / BUILTIN_DATA)
    tokenizer = AutoTokenizer.from_pretrained(task / TOKENIZER_DIR)
    shown = {}
    for root, name in ((tmp_path / "plain", RUNS["sft"][0]), (tmp_path / ODD_ROOT, RUNS["sft"][1])):
        for run_name in (name, "sftl"):   # "sft[lr=1e-4]" as a pattern matches sftl
            run = Run(root / run_name)
            run.write_manifest(Manifest(name=run_name, method="sft", status="finished"))
            save_small_llama(tokenizer, run.checkpoint(2))
        results = evaluate_runs(root, "builtin-test-id", runs_filter=[name], limit=4,
                                settings=SamplingSettings(k=2, temperature=1.0, top_p=0.95, max_new_tokens=6),
                                options=EvalOptions(seed=3, shard_size=2, grade_workers=1, progress=False))
        assert [(result.run, result.error) for result in results] == [(name, None)]
        shown[root] = (read_samples(Run(root / name).eval_dir(2, "builtin-test-id")),
                       problem_results(root, name, 2, "builtin-test-id"), ps.load_evals(root).drop("seconds"))
    for plain, odd in zip(*shown.values(), strict=True):
        assert_same(plain, odd, (tmp_path / "plain", tmp_path / ODD_ROOT))


# ---- commands suggested to a user ---------------------------------------------------------------------------
def quoted_argument(message: str, flag: str) -> str:
    """What a shell passes as `flag`'s value when the command in `message` (between backquotes or parentheses,
    from `probscope` on) is pasted into it."""
    command = message[message.index("probscope "):].split("`")[0].removesuffix(")")
    words = shlex.split(command)
    return words[words.index(flag) + 1] if flag else words[-1]


def test_suggested_commands_quote_odd_paths(roots):
    from probscope.analysis.steps import unprobed_last_checkpoints
    from probscope.demo import check_demo_probes
    from probscope.errors import ProbscopeError

    _, odd = roots
    run = Run(odd / RUNS["dft"][1])
    (run.checkpoint(20) / "config.json").parent.mkdir(parents=True)
    (run.checkpoint(20) / "config.json").write_text("{}")   # a last checkpoint not probed
    try:
        [note] = unprobed_last_checkpoints(odd, [run.name], "train")
        assert quoted_argument(note, "--run") == str(run.root)
    finally:
        shutil.rmtree(run.checkpoint(20))
    assert {quoted_argument(line, "--runs") for line in check_demo_probes(odd)} == {str(odd)}   # no grpo, ...
    unsummarized = Run(odd / RUNS["sft"][1]).probe_dir(20)   # unfinished: no summaries
    with pytest.raises(ProbscopeError) as error:
        read_summary(unsummarized, "cells")
    assert quoted_argument(str(error.value), "") == str(unsummarized)


# ---- the class of bug, in the source --------------------------------------------------------------------------
READERS = {"read_parquet", "scan_parquet", "read_csv", "scan_csv", "read_ndjson", "scan_ndjson", "read_ipc",
           "scan_ipc", "read_json"}


def test_every_polars_reader_in_probscope_takes_its_path_literally():
    """polars expands glob patterns in paths unless told glob=False; read_parquet_schema cannot be told."""
    unsafe = []
    for file in sorted((REPO / "probscope").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "pl"):
                continue
            literal = any(k.arg == "glob" and isinstance(k.value, ast.Constant) and k.value.value is False
                          for k in node.keywords)
            if node.func.attr == "read_parquet_schema" or (node.func.attr in READERS and not literal):
                unsafe.append(f"{file.relative_to(REPO)}:{node.lineno}: pl.{node.func.attr}")
    assert unsafe == []


def test_a_dataset_file_with_glob_characters_is_found_by_its_own_name(tmp_path):
    from probscope.probe.alternatives import dataset_file

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.jsonl", "facts[1] *?.jsonl", "facts1 ab.jsonl"):
        (data / name).write_text("{}\n")
    run = Run(tmp_path / "sft")
    run.write_manifest(Manifest(name="sft", method="sft", data=str(data / "train.jsonl")))
    assert dataset_file(run, "facts[1] *?") == str(data / "facts[1] *?.jsonl")


def test_add_run_takes_an_existing_folder_with_glob_characters_as_itself(tmp_path):
    from probscope.runs.add import checkpoint_folders

    for folder, steps in (("ckpts[1]", (5,)), ("ckpts1", (7, 9))):   # "ckpts[1]" as a pattern: "ckpts1"
        for step in steps:
            (tmp_path / folder / f"checkpoint-{step}").mkdir(parents=True)
            (tmp_path / folder / f"checkpoint-{step}" / "config.json").write_text("{}")
    assert list(checkpoint_folders(tmp_path / "ckpts[1]")) == [5]
    assert list(checkpoint_folders(str(tmp_path / "ckpts[[]1]" / "checkpoint-*"))) == [5]   # a pattern still is one
    assert list(checkpoint_folders(str(tmp_path / "ckpts?" / "checkpoint-*"))) == [7, 9]
    assert not (tmp_path / MANIFEST).exists()
