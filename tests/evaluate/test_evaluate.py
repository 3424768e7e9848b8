"""`probscope eval` end to end on tiny checkpoints: records, summaries, resuming, bad input, curves, lm-eval import."""

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import REAL
from helpers import run_torchrun, save_small_llama

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.evaluate import (
    BENCHMARKS,
    SamplingSettings,
    accuracy_curves,
    evaluate_runs,
    load_evals,
    load_lm_eval_results,
    load_problems,
    read_samples,
)
from probscope.evaluate.engine import EvalOptions
from probscope.runs import EVAL_DONE, Manifest, Run

TASK = {"n_train": 20, "n_test": 6, "n_old_people": 3, "n_new_people": 3, "n_pretrain_docs": 60}


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """Two runs with tiny random Llama checkpoints on the built-in tokenizer; sft step 1 is corrupt."""
    from transformers import AutoTokenizer

    from probscope.builtin.task import TOKENIZER_DIR, TaskConfig, write_builtin_data
    from probscope.runs import BUILTIN_DATA

    root = tmp_path_factory.mktemp("evalruns")
    write_builtin_data(root / BUILTIN_DATA, TaskConfig(**TASK))
    tokenizer = AutoTokenizer.from_pretrained(root / BUILTIN_DATA / TOKENIZER_DIR)
    for name, method in (("sft", "sft"), ("dft", "dft")):
        run = Run(root / name)
        run.write_manifest(Manifest(name=name, method=method, status="finished"))
        for step in (0, 2):
            save_small_llama(tokenizer, run.checkpoint(step), seed=step)
    broken = Run(root / "sft").checkpoint(1)
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    return root


def _options(**kw):
    return EvalOptions(progress=False, grade_workers=1, shard_size=2, **kw)


def test_eval_writes_records_and_summaries_and_skips_a_broken_checkpoint(runs_root):
    settings = SamplingSettings(k=2, temperature=1.0, top_p=0.95, max_new_tokens=8)
    results = evaluate_runs(runs_root, "builtin-test-id", settings=settings, options=_options(), limit=5)
    by_key = {(r.run, r.step): r for r in results}
    assert set(by_key) == {("dft", 0), ("dft", 2), ("sft", 0), ("sft", 1), ("sft", 2)}
    assert by_key[("sft", 1)].error and "step-000001" in by_key[("sft", 1)].error
    run = Run(runs_root / "sft")
    assert run.evaluated_steps("builtin-test-id") == [0, 2]
    samples = read_samples(run.eval_dir(2, "builtin-test-id"))
    assert samples.height == 10 and sorted(set(samples["sample"].to_list())) == [0, 1]
    assert samples["problem_id"].n_unique() == 5
    wrong = samples.filter(~pl.col("correct"))
    assert wrong["reason"].is_in(["no answer", "mismatch", "timeout"]).all()
    assert samples.filter(pl.col("correct"))["reason"].null_count() == samples["correct"].sum()
    summary = json.loads((run.eval_dir(2, "builtin-test-id") / EVAL_DONE).read_text())
    per_problem = samples.group_by("problem_id").agg(pl.col("correct").mean())["correct"]
    assert summary["average_at_k"] == pytest.approx(per_problem.mean())
    assert summary["k"] == 2 and summary["problems"] == 5
    again = evaluate_runs(runs_root, "builtin-test-id", settings=settings, options=_options(), limit=5,
                          runs_filter=["sft"])
    assert all(r.already_done for r in again if not r.error)


def test_a_resumed_evaluation_samples_what_an_uninterrupted_one_would(runs_root):
    settings = SamplingSettings(k=3, temperature=1.0, top_p=0.9, max_new_tokens=8)
    kwargs = dict(settings=settings, options=_options(seed=7), limit=5, runs_filter=["dft"], steps=[2],
                  name="resume-check")
    evaluate_runs(runs_root, "builtin-test-hard", **kwargs)
    out = Run(runs_root / "dft").eval_dir(2, "resume-check")
    before = read_samples(out)
    (out / EVAL_DONE).unlink()
    (out / "part-000001.parquet").unlink()      # killed after shard 0, before shard 1
    [result] = evaluate_runs(runs_root, "builtin-test-hard", **kwargs)
    assert not result.already_done
    assert read_samples(out).equals(before)


def test_other_settings_into_the_same_directory_are_refused(runs_root):
    first = SamplingSettings(k=1, max_new_tokens=8)
    evaluate_runs(runs_root, "builtin-facts-test", settings=first, options=_options(), limit=2,
                  runs_filter=["dft"], steps=[0])
    with pytest.raises(ProbscopeError, match="--name"):
        evaluate_runs(runs_root, "builtin-facts-test", settings=SamplingSettings(k=2, max_new_tokens=8),
                      options=_options(), limit=2, runs_filter=["dft"], steps=[0])


def test_bad_benchmark_files_fail_before_generation(tmp_path, runs_root):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": oops}\n')
    with pytest.raises(ProbscopeError, match=r"bad\.jsonl: line 2"):
        load_problems(BENCHMARKS.get("math500"), bad)
    no_answer = tmp_path / "no_answer.jsonl"
    no_answer.write_text('{"problem": "1+1?", "label": "2"}\n')
    with pytest.raises(ProbscopeError, match=r"no_answer\.jsonl.*answer.*'label'"):
        evaluate_runs(runs_root, "math500", data=no_answer, options=_options())   # raises before any model loads
    assert not any((runs_root / "sft" / "evals").glob("math500"))
    with pytest.raises(ProbscopeError, match="--data"):
        load_problems(BENCHMARKS.get("aime24"))
    unanswered = tmp_path / "unanswered.jsonl"
    unanswered.write_text('{"problem": "a", "solution": "It is \\\\boxed{2}."}\n'
                          '{"problem": "b", "solution": "No idea."}\n')
    with pytest.raises(ProbscopeError, match=r"unanswered\.jsonl: row 2: no reference answer in field 'solution'"):
        load_problems(BENCHMARKS.get("math500"), unanswered)


MATH500 = REAL / "data" / "math500_test.jsonl"


@pytest.mark.skipif(not MATH500.is_file(), reason="../shared/real/data/math500_test.jsonl not present")
def test_real_math500_file_loads_with_its_ids_and_answers():
    problems = load_problems(BENCHMARKS.get("math500"), MATH500)
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    assert [p.id for p in problems] == [r["unique_id"] for r in rows]
    assert [p.gold for p in problems] == [r["answer"].strip() for r in rows]
    assert problems[0].prompt == (rows[0]["problem"]
                                  + "\nPlease reason step by step, and put your final answer within \\boxed{}.")


def test_answer_field_variants(tmp_path):
    data = tmp_path / "amc.jsonl"
    rows = [{"question": "a", "answer": 36.0}, {"question": "b", "answer": ["2"]},
            {"question": "c", "answer": "The sum is \\boxed{\\frac{1}{2}}."}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = load_problems(BENCHMARKS.get("amc23"), data)
    assert [p.gold for p in problems] == ["36", "2", "\\frac{1}{2}"]
    assert problems[0].prompt.startswith("a\n") and problems[0].prompt.endswith("\\boxed{}.")


def test_curves_lm_eval_import_and_figure(runs_root, tmp_path):
    from probscope.plots.accuracy import accuracy_curves_figure, plot_accuracy_curves

    evaluate_runs(runs_root, "builtin-test-id", settings=SamplingSettings(k=2, temperature=1.0, max_new_tokens=8),
                  options=_options(), limit=5)
    evals = load_evals(runs_root, names=["builtin-test-id"])
    assert set(zip(evals["run"], evals["step"], strict=False)) == {("dft", 0), ("dft", 2), ("sft", 0), ("sft", 2)}
    harness = tmp_path / "lm_eval" / "sft"
    harness.mkdir(parents=True)
    (harness / "results_2025-01-01T00-00-00.json").write_text(json.dumps({
        "results": {"gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.25,
                              "exact_match_stderr,strict-match": 0.01}},
        "config": {"model_args": f"pretrained={runs_root}/sft/checkpoints/step-000002,dtype=float32"}}))
    theirs = load_lm_eval_results(tmp_path / "lm_eval", method="sft")
    assert theirs.select("run", "benchmark", "step", "value").row(0) == ("sft", "gsm8k", 2, 0.25)
    assert theirs["lo"][0] == pytest.approx(0.25 - 1.959964 * 0.01)
    curves = accuracy_curves(evals, lm_eval=theirs)
    assert set(curves["benchmark"]) == {"builtin-test-id", "gsm8k"}
    assert set(curves.filter(pl.col("source") == "probscope")["metric"]) == {"Average@2"}
    figure = plot_accuracy_curves(curves)
    assert len(figure.axes) == 2
    assert accuracy_curves_figure(None, runs_root=runs_root).table.height >= 4


def test_cli_eval_and_grade(runs_root, tmp_path, capsys):
    assert cli_main(["eval", "--runs", str(runs_root), "--benchmark", "builtin-test-hard", "--limit", "3",
                     "--runs-filter", "d*", "--max-new-tokens", "8", "--grade-workers", "1"]) == 0
    assert "2 checkpoint(s) evaluated" in capsys.readouterr().out
    generations = tmp_path / "gen.jsonl"
    generations.write_text(
        json.dumps({"out": ["\\boxed{2}", "\\boxed{3}"], "gold": "2"}) + "\n"
        + json.dumps({"out": ["The answer is 5.", "no idea"], "gold": 5.0}) + "\n")
    assert cli_main(["grade", str(generations), "--pred-field", "out", "--gold-field", "gold", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Average@2: 0.5000" in out and "pass@2:    1.0000" in out and "1 no answer, 1 mismatch" in out
    assert cli_main(["grade", str(generations), "--pred-field", "output", "--gold-field", "gold"]) == 2
    assert "row 1: no field 'output'" in capsys.readouterr().err


GSM8K = REAL / "data" / "gsm8k_train_first500.jsonl"


@pytest.mark.skipif(not GSM8K.is_file(), reason="../shared/real/data/gsm8k_train_first500.jsonl not present")
def test_real_gsm8k_file_golds_and_math_verify_grading_beside_a_loaded_model(runs_root):
    from probscope.evaluate import grade_all

    problems = load_problems(BENCHMARKS.get("gsm8k"), GSM8K)
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()]
    assert len(problems) == 500 and all(p.gold and "####" not in p.gold for p in problems)
    # each reference solution (with <<calculator>> notes and '#### N') grades correct against its own gold
    grades = grade_all([r["answer"] for r in rows], [p.gold for p in problems], workers=2)
    assert sum(g.correct for g in grades) / len(grades) >= 0.99
    # the math-verify grader's worker processes start beside a loaded torch model
    [result] = evaluate_runs(runs_root, "gsm8k", data=GSM8K, limit=80, runs_filter=["dft"], steps=[0],
                             settings=SamplingSettings(k=1, max_new_tokens=4),
                             options=EvalOptions(progress=False, grade_workers=2))
    assert result.summary["problems"] == 80 and result.summary["samples"] == 80


WORKER = """
import sys
from probscope.evaluate import EvalOptions, SamplingSettings, evaluate_runs
evaluate_runs(sys.argv[1], "builtin-test-id", runs_filter=["sft"], steps=[2], name=sys.argv[2], limit=5,
              settings=SamplingSettings(k=2, temperature=1.0, max_new_tokens=8),
              options=EvalOptions(progress=False, shard_size=2, grade_workers=1))
"""


@pytest.mark.slow
def test_two_processes_sample_what_one_process_samples(runs_root, tmp_path):

    import torch

    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    run_torchrun(worker, str(runs_root), "two")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # the arithmetic of each torchrun worker
    try:
        evaluate_runs(runs_root, "builtin-test-id", runs_filter=["sft"], steps=[2], name="one", limit=5,
                      settings=SamplingSettings(k=2, temperature=1.0, max_new_tokens=8), options=_options())
    finally:
        torch.set_num_threads(threads)
    run = Run(runs_root / "sft")
    assert len(list(run.eval_dir(2, "two").glob("part-*.parquet"))) == 3
    assert read_samples(run.eval_dir(2, "two")).equals(read_samples(run.eval_dir(2, "one")))
    assert (run.eval_dir(2, "two") / EVAL_DONE).is_file()


# ---- per-problem table and a directory with one bad file (synthetic evaluations, no model) ---------------------
def _synthetic_eval(root: Path, run_name: str, step: int, name: str, correct: list[list[bool]]) -> Run:
    """A finished evaluation of `run_name` at `step`: one shard per two problems, samples as given."""
    import numpy as np

    from probscope.evaluate.engine import SAMPLE_COLUMNS
    from probscope.runs import write_parquet_atomic

    run = Run(root / run_name)
    if not run.manifest_path.is_file():
        run.write_manifest(Manifest(name=run_name, method=run_name, status="finished"))
    out = run.eval_dir(step, name)
    rows = [{"problem_id": f"p{i}", "sample": j, "generation": f"g{i}.{j}", "tokens": 3, "answer": "1",
             "gold": str(i), "correct": ok, "reason": None if ok else "mismatch"}
            for i, flags in enumerate(correct) for j, ok in enumerate(flags)]
    frame = pl.DataFrame(rows, schema=SAMPLE_COLUMNS)
    for shard, start in enumerate(range(0, len(correct), 2)):
        ids = [f"p{i}" for i in range(start, min(start + 2, len(correct)))]
        write_parquet_atomic(frame.filter(pl.col("problem_id").is_in(ids)), out / f"part-{shard:06d}.parquet")
    average = float(np.mean([np.mean(flags) for flags in correct]))
    (out / EVAL_DONE).write_text(json.dumps({"benchmark": name, "k": len(correct[0]), "average_at_k": average,
                                             "average_at_k_lo": average, "average_at_k_hi": average,
                                             "pass_at_k": average, "pass_at_k_lo": average, "pass_at_k_hi": average,
                                             "settings": {"temperature": 1.0, "top_p": 0.9, "max_new_tokens": 8}}))
    return run


def test_problem_results_match_a_numpy_count(tmp_path):
    import numpy as np

    from probscope.evaluate import problem_results

    rng = np.random.default_rng(3)
    correct = rng.random((5, 4)) < 0.5
    _synthetic_eval(tmp_path, "sft", 10, "bench", correct.tolist())
    table = problem_results(tmp_path, "sft", 10, "bench")
    assert table["problem_id"].to_list() == [f"p{i}" for i in range(5)]        # the benchmark's order
    assert table["samples"].to_list() == [4] * 5
    assert table["correct"].to_list() == correct.sum(axis=1).tolist()
    assert table["accuracy"].to_list() == pytest.approx(correct.mean(axis=1).tolist())
    assert table["gold"].to_list() == [str(i) for i in range(5)]
    with pytest.raises(ProbscopeError, match="no finished evaluation 'bench' of sft at step 20"):
        problem_results(tmp_path, "sft", 20, "bench")


def test_load_evals_skips_a_run_with_a_bad_manifest_or_summary_and_names_the_file(tmp_path, caplog):
    _synthetic_eval(tmp_path, "sft", 10, "bench", [[True, False]] * 2)
    _synthetic_eval(tmp_path, "dft", 10, "bench", [[True, True]] * 2)
    bad_summary = _synthetic_eval(tmp_path, "dft", 20, "bench", [[False, False]] * 2).eval_dir(20, "bench") / EVAL_DONE
    bad_summary.write_text('{"k": 2, ')
    bad_manifest = _synthetic_eval(tmp_path, "base", 0, "bench", [[True, True]] * 2).manifest_path
    bad_manifest.write_text('{"name": "base", "method": null}')
    with caplog.at_level("WARNING", logger="probscope.evaluate.curves"):
        evals = load_evals(tmp_path)
    assert evals.select("run", "step").rows() == [("dft", 10), ("sft", 10)]
    assert evals["average_at_k"].to_list() == [1.0, 0.5]
    warnings = [r.getMessage() for r in caplog.records]
    assert any(str(bad_summary) in w and "invalid JSON" in w for w in warnings)
    assert any("base" in w and str(bad_manifest) in w for w in warnings)
