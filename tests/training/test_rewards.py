"""Verifiers: reference replies score 1, corrupted answers 0; a failing verifier gives 0 and a warning."""

import json
import logging
import re

import pytest

from probscope.builtin.task import TaskConfig, generate
from probscope.errors import ProbscopeError
from probscope.training.rewards import REWARDS, get_reward, score_replies, trl_reward_function


@pytest.fixture(scope="module")
def task():
    return generate(TaskConfig(n_train=200, n_test=20, n_old_people=4, n_new_people=6, n_pretrain_docs=10))


def corrupt_final_number(reply: str) -> str:
    """The reply with its final answer replaced by another number."""
    number = re.findall(r"\d+", reply)[-1]
    at = reply.rfind(number)
    return reply[:at] + str(int(number) + 1) + reply[at + len(number):]


@pytest.mark.parametrize("split", ["train", "test-id", "test-hard"])
def test_builtin_reasoning_references_score_1_corrupted_0(task, split):
    rows = task[split]
    verifier = get_reward("builtin-reasoning")
    assert [verifier(r["completion"], r["answer"]) for r in rows] == [1.0] * len(rows)
    assert [verifier(corrupt_final_number(r["completion"]), r["answer"]) for r in rows] == [0.0] * len(rows)
    assert verifier(rows[0]["completion"].rsplit(" ", 2)[0], rows[0]["answer"]) == 0.0   # answer cut off


def test_builtin_facts_references_score_1_other_values_0(task):
    rows = task["facts-train"] + task["facts-test"]
    verifier = get_reward("builtin-facts")
    assert all(verifier(r["completion"], r["answer"]) == 1.0 for r in rows)
    for r in rows:
        other = "Nowhereville" if r["attribute"] == "city" else "astronaut"
        assert verifier(r["completion"].replace(r["answer"], other), r["answer"]) == 0.0


def test_math_exact_match_of_boxed_and_hash_answers(real_dir):
    verifier = get_reward("math")
    assert verifier("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}") == 1.0
    assert verifier("so $x = \\boxed{\\frac{1}{3}}$.", "\\frac{1}{2}") == 0.0
    assert verifier("no final answer", "3") == 0.0
    rows = [json.loads(line) for line in (real_dir / "data" / "gsm8k_train_first500.jsonl").open()][:100]
    gold = [r["answer"].rpartition("####")[2].strip() for r in rows]
    assert score_replies("math", [r["answer"] for r in rows], gold) == [1.0] * len(rows)
    assert score_replies("math", [r["answer"] for r in rows[1:]], gold[:-1]).count(1.0) < 10
    math500 = [json.loads(line) for line in (real_dir / "data" / "math500_test.jsonl").open()][:100]
    scores = score_replies("math", [r["solution"] for r in math500], [r["answer"] for r in math500])
    assert sum(scores) >= 80     # exact match only: a full grader accepts equivalent forms too


def test_a_verifier_that_raises_or_returns_nan_gives_0_and_a_warning(caplog):
    calls = []

    @REWARDS.register("flaky-test")
    def flaky(reply, answer):
        calls.append(reply)
        if reply == "boom":
            raise RuntimeError("verifier bug")
        return float("nan") if reply == "nan" else 1.0

    try:
        with caplog.at_level(logging.WARNING, logger="probscope"):
            assert score_replies("flaky-test", ["ok", "boom", "nan", "ok"], ["1"] * 4) == [1.0, 0.0, 0.0, 1.0]
        assert "verifier bug" in caplog.text and "NaN" in caplog.text
        reward = trl_reward_function("flaky-test")
        completions = [[{"role": "assistant", "content": "ok"}], [{"role": "assistant", "content": "boom"}]]
        assert reward(prompts=["p", "p"], completions=completions, answer=["1", "1"]) == [1.0, 0.0]
        assert reward.__name__ == "flaky_test"
    finally:
        REWARDS.remove("flaky-test")


def test_unknown_reward_is_a_one_line_error():
    with pytest.raises(ProbscopeError, match="did you mean 'math'"):
        trl_reward_function("mth")
