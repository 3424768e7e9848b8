"""eval and grade on your own models and files: a recorded prompt template, budgets within the model's context,
and the inputs that used to give silent wrong results (NaN/null golds, ragged k, temperature 0 with k > 1,
steps and run patterns that match nothing, an --out that cannot be written)."""

from __future__ import annotations

import json
import logging

import pytest
from helpers import save_small_llama

from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.evaluate import SamplingSettings, evaluate_runs
from probscope.evaluate.benchmarks import BENCHMARKS, load_problems
from probscope.evaluate.engine import EvalOptions, model_context, within_context
from probscope.evaluate.grading import gold_text
from probscope.runs import EVAL_DONE, Manifest, Run


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """One run with one tiny checkpoint (context 256) on the built-in tokenizer, and the built-in data."""
    from transformers import AutoTokenizer

    from probscope.builtin.task import TOKENIZER_DIR, TaskConfig, write_builtin_data
    from probscope.runs import BUILTIN_DATA

    root = tmp_path_factory.mktemp("evalruns")
    write_builtin_data(root / BUILTIN_DATA, TaskConfig(n_train=20, n_test=4, n_old_people=3, n_new_people=3,
                                                       n_pretrain_docs=60))
    tokenizer = AutoTokenizer.from_pretrained(root / BUILTIN_DATA / TOKENIZER_DIR)
    run = Run(root / "sft")
    run.write_manifest(Manifest(name="sft", method="sft", status="finished"))
    save_small_llama(tokenizer, run.checkpoint(2))
    return root


def _options():
    return EvalOptions(progress=False, grade_workers=1)


def test_the_prompt_template_is_used_and_recorded(runs_root):
    settings = SamplingSettings(k=1, max_new_tokens=4)
    (default,) = evaluate_runs(runs_root, "builtin-test-id", settings=settings, options=_options(), limit=2)
    (templated,) = evaluate_runs(runs_root, "builtin-test-id", settings=settings, options=_options(), limit=2,
                                 name="templated", prompt_template="Question: {question}\nAnswer:")
    summary = json.loads((Run(runs_root / "sft").eval_dir(2, "templated") / EVAL_DONE).read_text())
    assert summary["prompt_template"] == "Question: {question}\nAnswer:"
    assert summary["chat_template"] == "the tokenizer's"
    assert default.summary["prompt_template"] == "{question}"
    assert summary["fingerprint"] != default.summary["fingerprint"]      # other prompts: another evaluation


def test_budgets_are_capped_at_the_models_context_with_a_notice(runs_root, caplog, capsys):
    checkpoint = Run(runs_root / "sft").checkpoint(2)
    assert model_context(checkpoint) == 256
    with caplog.at_level(logging.WARNING, logger="probscope"):
        capped = within_context(SamplingSettings(max_new_tokens=100_000), checkpoint)
    assert capped.max_new_tokens == 256
    assert "generation budget 100000 tokens capped at the model's context, 256 tokens" in caplog.text
    assert within_context(SamplingSettings(max_new_tokens=8), checkpoint).max_new_tokens == 8
    assert model_context(runs_root) is None                                  # no config.json: no cap
    # the command finishes (a 100,000-token budget used to run until killed)
    assert cli_main(["eval", "--runs", str(runs_root), "--benchmark", "builtin-facts-test", "--limit", "1",
                     "--max-new-tokens", "100000", "--grade-workers", "1", "--name", "capped"]) == 0
    summary = json.loads((Run(runs_root / "sft").eval_dir(2, "capped") / EVAL_DONE).read_text())
    assert summary["settings"]["max_new_tokens"] == 256


@pytest.mark.bad_input
@pytest.mark.parametrize("flags, message", [
    (["--k", "3", "--temperature", "0"], "temperature=0.0 with k=3: k samples need a temperature > 0"),
    (["--steps", "999"], "no chosen run has a checkpoint at step(s) 999 (steps saved: 2)"),
    (["--runs-filter", "nosuch*"], "no run matches --runs-filter 'nosuch*' (runs: sft)"),
    (["--prompt-template", "Q: {q}"], "must hold {question} once and no other field (found: {q})"),
    (["--prompt-template", "no field"], "must hold {question} once"),
    (["--prompt-template", "{question"], "--prompt-template '{question'"),
])
def test_eval_bad_inputs_are_one_line_errors(runs_root, capsys, flags, message):
    code = cli_main(["eval", "--runs", str(runs_root), "--benchmark", "builtin-test-id", "--limit", "1", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.bad_input
def test_the_api_refuses_greedy_k_samples(runs_root):
    with pytest.raises(ProbscopeError, match="temperature=0.0 with k=4"):
        evaluate_runs(runs_root, "builtin-test-id", settings=SamplingSettings(k=4, temperature=0.0), limit=1)


@pytest.mark.bad_input
def test_nan_gold_is_no_answer_in_eval_too(tmp_path):
    assert gold_text(float("nan")) is None and gold_text([float("nan")]) is None and gold_text(36.0) == "36"
    data = tmp_path / "b.jsonl"
    data.write_text('{"problem": "1+1?", "answer": 2}\n{"problem": "2+2?", "answer": NaN}\n')
    with pytest.raises(ProbscopeError, match="b.jsonl: row 2: no reference answer in field 'answer'"):
        load_problems(BENCHMARKS.get("math500"), data)


def _generations(tmp_path, rows) -> str:
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(line + "\n" for line in rows))
    return str(path)


@pytest.mark.bad_input
@pytest.mark.parametrize("gold, flag, found", [
    ("null", [], "found None"), ("NaN", [], "found nan"), ('"so it is 4"', ["--gold-from-solution"], "\\boxed"),
])
def test_grade_refuses_a_missing_gold_naming_the_row(tmp_path, capsys, gold, flag, found):
    path = _generations(tmp_path, ['{"out": "\\\\boxed{2}", "gold": "so \\\\boxed{2}"}',
                                   f'{{"out": "\\\\boxed{{4}}", "gold": {gold}}}'])
    assert cli_main(["grade", path, "--pred-field", "out", "--gold-field", "gold", "--workers", "1", *flag]) == 2
    err = capsys.readouterr().err.strip()
    assert "gen.jsonl: row 2: no reference answer in field 'gold'" in err and found in err
    assert len(err.splitlines()) == 1


def test_grade_reports_ragged_k(tmp_path, capsys):
    path = _generations(tmp_path, ['{"out": ["\\\\boxed{2}", "\\\\boxed{3}", "\\\\boxed{2}"], "gold": "2"}',
                                   '{"out": ["\\\\boxed{5}"], "gold": "5"}'])
    assert cli_main(["grade", path, "--pred-field", "out", "--gold-field", "gold", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "note: rows hold 1 to 3 predictions (1 rows fewer than 3)" in out and "k=1" in out


@pytest.mark.bad_input
@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_grade_out_that_cannot_be_written_fails_before_grading(tmp_path, capsys, where):
    path = _generations(tmp_path, ['{"out": "\\\\boxed{2}", "gold": "2"}'])
    (tmp_path / "file").write_text("x")
    out = tmp_path if where == "folder" else tmp_path / "file" / "grades.jsonl"
    assert cli_main(["grade", path, "--pred-field", "out", "--gold-field", "gold", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and len(err.splitlines()) == 1
