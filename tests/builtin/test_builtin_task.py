"""The built-in task: deterministic for a seed, answers pass the checker, roles cover every reply word."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from probscope.builtin.bound import END, reply_tokens
from probscope.builtin.task import (
    SPLITS,
    TaskConfig,
    check_answer,
    extract_answer,
    generate,
    solve,
    write_builtin_data,
)
from probscope.builtin.tokenizer import render_chat
from probscope.errors import ProbscopeError

SMALL = TaskConfig(n_train=300, n_test=40, n_old_people=6, n_new_people=6, n_pretrain_docs=400)


@pytest.fixture(scope="module")
def task():
    return generate(SMALL)


def test_same_seed_same_rows_other_seed_other_rows(task):
    assert generate(SMALL) == task
    assert generate(replace(SMALL, seed=1))["train"] != task["train"]


def test_reference_answers_pass_the_checker(task):
    for split in SPLITS:
        for row in task[split]:
            assert check_answer(row["completion"], row["answer"]), (split, row)


def test_checker_rejects_wrong_answers():
    assert not check_answer("So the answer is 12 .", "13")
    assert not check_answer("So the answer is", "13")
    assert extract_answer("Thus the answer is 1 3 .") == "13"      # decoded word-level tokens
    assert not check_answer("Kosen lives in Talvar .", "Ebbin")


def test_answers_are_the_arithmetic(task):
    for row in task["train"] + task["test-id"] + task["test-hard"]:
        tokens = row["expression"].split()
        operands, ops = [int(t) for t in tokens[::2]], tokens[1::2]
        assert str(solve(operands, ops)) == row["answer"]


def test_splits_have_their_operand_counts_and_test_problems_are_held_out(task):
    n_operands = lambda row: len(row["expression"].split()) // 2 + 1  # noqa: E731
    assert {n_operands(r) for r in task["train"]} == set(SMALL.train_operands)
    assert {n_operands(r) for r in task["test-id"]} == {SMALL.test_id_operands}
    assert {n_operands(r) for r in task["test-hard"]} == {SMALL.test_hard_operands}
    train_expressions = {r["expression"] for r in task["train"]}
    assert not train_expressions & {r["expression"] for r in task["test-id"] + task["test-hard"]}


def test_spans_cover_every_word_with_a_role(task):
    for row in task["train"][:50] + task["facts-train"]:
        text = row["completion"]
        words = text.split()
        assert len(row["spans"]) == len(words)
        for (start, end, role), word in zip(row["spans"], words, strict=False):
            assert text[start:end] == word
            assert role in {"connective", "punctuation", "number", "operator", "answer", "fact"}
        assert row["spans"][-2][2] in {"answer", "fact"} or row["task"] == "facts"


def test_facts_test_asks_about_facts_train_with_new_wordings(task):
    train_prompts = {r["prompt"] for r in task["facts-train"]}
    assert all(r["prompt"] not in train_prompts for r in task["facts-test"])
    train_answers = {r["completion"] for r in task["facts-train"]}
    assert all(r["completion"] in train_answers for r in task["facts-test"])


def test_written_tokenizer_renders_the_chat_template_and_splits_digits(tmp_path):
    from transformers import AutoTokenizer

    paths = write_builtin_data(tmp_path, SMALL)
    tok = AutoTokenizer.from_pretrained(str(paths["tokenizer"]))
    row = json.loads(paths["train"].read_text().splitlines()[0])
    messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    rendered = tok.apply_chat_template(messages, tokenize=False)
    assert rendered == render_chat(row["prompt"], row["completion"])
    pieces = tok.convert_ids_to_tokens(tok("12 + 7 = 19 . <eos>", add_special_tokens=False)["input_ids"])
    assert pieces == ["1", "2", "+", "7", "=", "1", "9", ".", "<eos>"]
    assert tok.unk_token_id not in tok(rendered, add_special_tokens=False)["input_ids"]
    for line in paths["train"].read_text().splitlines()[:30]:   # the entropy bound counts the tokenizer's tokens
        row = json.loads(line)
        ids = tok(row["completion"], add_special_tokens=False)["input_ids"]
        assert reply_tokens(row)[0] == [*tok.convert_ids_to_tokens(ids), END]
    # idempotent: a second call with the same config rewrites nothing
    mtime = paths["train"].stat().st_mtime_ns
    write_builtin_data(tmp_path, SMALL)
    assert paths["train"].stat().st_mtime_ns == mtime


def test_operand_range_shift_holds_out_the_upper_operands_and_leaves_the_other_splits_alone():
    import re

    small = dict(n_train=400, n_test=40, n_pretrain_docs=300, n_old_people=4, n_new_people=4)
    plain, shifted = generate(TaskConfig(**small)), generate(TaskConfig(**small, train_max_operand=4))

    def operands(rows):
        return [int(x) for row in rows for x in re.findall(r"\d+", row["expression"])]

    assert "test-shift" not in plain and len(shifted["test-shift"]) == 40
    assert max(operands(shifted["train"])) == max(operands(shifted["test-id"])) == 4
    assert min(operands(shifted["test-shift"])) == 5 and max(operands(shifted["test-shift"])) == 9
    assert all(len(re.findall(r"\d+", row["expression"])) == 3 for row in shifted["test-shift"])
    assert all(check_answer(row["completion"], row["answer"]) for row in shifted["test-shift"])
    assert max(int(x) for row in shifted["pretrain"] for x in re.findall(r"\b\d\b", row["text"])) == 9   # skill seen
    assert shifted["facts-train"] == plain["facts-train"]
    with pytest.raises(ProbscopeError, match="train_max_operand: must lie in 0..8, got 9"):
        generate(TaskConfig(**small, train_max_operand=9))


def test_generation_budgets_fit_the_longest_reference_replies():
    """A correct reply cut off by the evaluation's token budget would be scored wrong."""
    from probscope.builtin import recipe_path
    from probscope.demo import SAMPLING
    from probscope.evaluate.benchmarks import BENCHMARKS
    from probscope.training.config import load_recipe_file

    task = generate(TaskConfig(n_train=1000, n_pretrain_docs=100, n_old_people=4, n_new_people=4, train_max_operand=4))
    for split in ("test-id", "test-hard", "test-shift"):
        longest = max(len(reply_tokens(row)[0]) for row in task[split])   # the end of the reply included
        assert longest <= BENCHMARKS.get(f"builtin-{split}").max_new_tokens, split
    longest = max(len(reply_tokens(row)[0]) for row in task["train"])   # sampled from the train prompts
    assert longest <= SAMPLING["max_new_tokens"]
    assert longest <= load_recipe_file(Path(str(recipe_path("grpo"))))["max_completion_length"]
