"""Answer grading (extraction + math-verify) and the metrics: Average@k, unbiased pass@k, bootstrap CIs."""

import json
import random
import time
from itertools import combinations

import numpy as np
import pytest
from conftest import REAL

from probscope.evaluate import grading
from probscope.evaluate.grading import MISMATCH, NO_ANSWER, TIMEOUT, gold_from_solution, gold_text, grade_all
from probscope.evaluate.metrics import bootstrap_ci, pass_at_k, summarize

MATH500 = REAL / "data" / "math500_test.jsonl"


@pytest.mark.parametrize("value, expected", [
    (36.0, "36"), (2.5, "2.5"), (7, "7"), (["2"], "2"), (["1", "2"], "1, 2"), ("  $\\frac{1}{2}$ ", "\\frac{1}{2}"),
    ("so \\boxed{\\frac{1}{\\sqrt{2}}} done", "\\frac{1}{\\sqrt{2}}"), ("He pays 3 + 4 = 7.\n#### 1,000", "1,000"),
    (None, None), ("", None), ([], None),
])
def test_gold_text_handles_the_shapes_public_copies_use(value, expected):
    assert gold_text(value) == expected


def test_gold_from_solution_takes_the_last_boxed():
    assert gold_from_solution("First \\boxed{1}, finally \\boxed{\\{1, 2\\}}.") == "\\{1, 2\\}"
    assert gold_from_solution("no final answer") is None


@pytest.mark.parametrize("prediction, gold, correct", [
    ("We get $x = \\frac{1}{\\sqrt{2}}$, so \\boxed{\\frac{\\sqrt{2}}{2}}.", "\\frac{1}{\\sqrt{2}}", True),
    ("Adding up: 400 + 600 = 1000.\n#### 1,000", "1000", True),
    ("The answer is 0.50.", "\\frac{1}{2}", True),
    ("The answer is $36$. Then we stop.", "36.0", True),
    ("So the final answer is \\boxed{50\\%}", "50\\%", True),
    ("\\boxed{12,345}", "12345", True),
    ("The answer is 7.", "8", False),
    ("\\boxed{3} was a slip; the answer is \\boxed{4}", "3", False),   # the last boxed answer counts
])
def test_grading_examples(prediction, gold, correct):
    grade = grade_all([prediction], [gold], workers=1)[0]
    assert grade.correct is correct
    assert grade.reason == (None if correct else MISMATCH)


def test_no_extractable_answer_is_wrong_with_its_reason():
    grade = grade_all(["I am not sure about this one."], ["3"], workers=1)[0]
    assert (grade.correct, grade.answer, grade.reason) == (False, None, NO_ANSWER)


def test_a_slow_sample_times_out_and_the_others_are_graded(monkeypatch):
    real = grading._parse_latex

    def slow(text):
        if text == "slow":
            time.sleep(3)
        return real(text)

    monkeypatch.setattr(grading, "_parse_latex", slow)
    start = time.perf_counter()
    grades = grade_all(["\\boxed{slow}", "\\boxed{2}"], ["2", "2"], workers=1, time_limit=0.3)
    assert time.perf_counter() - start < 2.5
    assert [g.reason for g in grades] == [TIMEOUT, None]


def test_worker_processes_grade_like_the_main_process():
    preds = [f"The sum is \\boxed{{{i % 7}}}" for i in range(150)] + ["nothing"] * 5
    golds = [str(i % 5) for i in range(155)]
    assert grade_all(preds, golds, workers=2) == grade_all(preds, golds, workers=1)


def test_pass_at_k_matches_enumerating_every_subset():
    for n, c, k in [(5, 2, 1), (5, 2, 3), (6, 0, 2), (6, 6, 4), (8, 3, 4), (4, 1, 4)]:
        flags = [True] * c + [False] * (n - c)
        subsets = list(combinations(flags, k))
        expected = sum(any(s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(expected)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_summary_average_and_pass_at_k_and_interval():
    correct = [[True, False, True, True], [False] * 4, [True] * 4, [False, False, False, True]]
    s = summarize(correct, seed=1)
    assert s["k"] == 4 and s["problems"] == 4 and s["samples"] == 16
    assert s["average_at_k"] == pytest.approx(np.mean([3 / 4, 0, 1, 1 / 4]))
    assert s["pass_at_k"] == pytest.approx(3 / 4)
    assert s["average_at_k_lo"] <= s["average_at_k"] <= s["average_at_k_hi"]
    # more problems with the same per-problem spread -> a narrower interval
    lo, hi = bootstrap_ci([0.0, 1.0] * 10)
    lo2, hi2 = bootstrap_ci([0.0, 1.0] * 200)
    assert hi2 - lo2 < (hi - lo) / 3


@pytest.mark.skipif(not MATH500.is_file(), reason="../shared/real/data/math500_test.jsonl not present")
def test_math500_reference_solutions_grade_correct_and_shuffled_answers_wrong():
    rows = [json.loads(line) for line in MATH500.read_text().splitlines()]
    golds = [gold_text(r["answer"]) for r in rows]
    solutions = [r["solution"] for r in rows]
    right = grade_all(solutions, golds)
    assert sum(g.correct for g in right) / len(rows) >= 0.99
    # each solution against another problem's answer that is written differently
    rng = random.Random(0)
    others = []
    for gold in golds:
        other = rng.choice(golds)
        while other == gold:
            other = rng.choice(golds)
        others.append(other)
    wrong = grade_all(solutions, others)
    assert sum(g.correct for g in wrong) / len(rows) <= 0.01
