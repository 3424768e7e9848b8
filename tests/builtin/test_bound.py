"""What the built-in task records about itself (task.json): the contamination audit, the entropy bound of its
demonstrations and the facts guessing floor, each checked against an independent computation."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter

import pytest

from probscope.builtin.bound import (
    END,
    contamination_audit,
    entropy_bound,
    problem_of,
    reply_tokens,
    token_probabilities,
)
from probscope.builtin.task import (
    QUESTIONS,
    TaskConfig,
    check_answer,
    generate,
    new_author_slots,
    old_author_slots,
    write_builtin_data,
    write_reply,
)
from probscope.errors import ProbscopeError

SHIFTED = TaskConfig(n_train=400, n_test=60, n_old_people=4, n_new_people=4, n_pretrain_docs=4000,
                     pretrain_mix=(0.4, 0.2, 0.1, 0.3), train_max_operand=4, pretrain_shift_share=0.2)


@pytest.fixture(scope="module")
def shifted():
    return generate(SHIFTED)


def test_no_test_expression_is_a_demonstration_in_training_or_pretraining(shifted):
    tests = [row for name in ("test-id", "test-hard", "test-shift") for row in shifted[name]]
    corpus = " ".join(row["text"] for row in shifted["pretrain"])
    train_prompts = {row["prompt"] for row in shifted["train"]}
    contaminated = [row["expression"] for row in tests for question in QUESTIONS
                    if f"<user> {question} {row['expression']} ?" in corpus
                    or f"{question} {row['expression']} ?" in train_prompts]
    assert contaminated == []
    audit = contamination_audit({"test": tests}, shifted["train"], shifted["pretrain"])
    assert audit["contaminated_test_expressions"] == 0 and audit["checked"] == len(tests)
    assert audit["pretrain_demonstrations"] == corpus.count("<user>")
    # the audit does see a contaminated corpus
    leaked = [{"text": f"<bos><user> What is {tests[0]['expression']} ? <assistant> ... <eos>"}]
    assert contamination_audit({"test": tests}, [], leaked)["contaminated_test_expressions"] == 1


def test_pretraining_demonstrations_hold_the_held_out_share_and_long_chains(shifted):
    prompts = re.findall(r"<user> [A-Za-z ]+? (\d+(?: [+-] \d+)+) \?", " ".join(r["text"] for r in shifted["pretrain"]))
    operands = [[int(x) for x in p.split()[::2]] for p in prompts]
    in_shift_range = sum(min(ops) > SHIFTED.train_max_operand for ops in operands) / len(operands)
    assert abs(in_shift_range - SHIFTED.pretrain_shift_share) < 0.06
    assert all(max(ops) <= SHIFTED.train_max_operand or min(ops) > SHIFTED.train_max_operand for ops in operands)
    assert 0 < sum(len(ops) == 4 for ops in operands) / len(operands) < 0.15
    assert all(len(ops) in (2, 3, 4) for ops in operands)


def test_the_two_authors_write_in_different_styles(shifted):
    """Every fine-tuning reply can be written only by the new author, every pretraining reply only by the old."""
    row = shifted["train"][0]
    tokens, _ = reply_tokens(row)
    problem = problem_of(row["expression"])
    assert min(token_probabilities(new_author_slots(*problem), tokens)) > 0
    with pytest.raises(ProbscopeError, match="cannot be written by this author"):
        token_probabilities(old_author_slots(*problem), tokens)
    old = write_reply(random.Random(0), old_author_slots(*problem)).text()
    with pytest.raises(ProbscopeError, match="cannot be written by this author"):
        token_probabilities(new_author_slots(*problem), [t for w in old.split() for t in re.findall(r"\w+|\W+", w)]
                            + [END])


def _trie_counts(replies: list[list[str]]) -> dict:
    """Counts of every token prefix of `replies`, as a trie {token: [count, children]}."""
    root: dict = {}
    for tokens in replies:
        node = root
        for token in tokens:
            entry = node.setdefault(token, [0, {}])
            entry[0] += 1
            node = entry[1]
    return root


@pytest.mark.parametrize("operands, ops", [([7, 5, 9], ["+", "-"]), ([1, 12, 3], ["+", "+"])])
def test_bayes_probabilities_match_the_empirical_distribution_of_sampled_replies(operands, ops):
    """Monte-Carlo: sample many replies to one problem; the frequency of each next token given the tokens before it
    approaches the exact probability, and the share at p >= 0.9 is the same either way."""
    slots = new_author_slots(operands, ops)
    rng = random.Random(0)
    rows = [write_reply(rng, slots) for _ in range(6000)]
    replies = [reply_tokens({"completion": r.text(), "spans": r.spans})[0] for r in rows]
    trie = _trie_counts(replies)
    compared, free_numbers, high_exact, high_empirical, determined = 0, 0, 0, 0, 0
    for tokens in replies[:100]:
        exact = token_probabilities(slots, tokens)
        node, total = trie, len(replies)
        for token, p in zip(tokens, exact, strict=False):
            count, children = node[token]
            empirical = count / total
            if p == 1:   # a determined token: every sampled reply with these tokens before continues with it
                assert count == total, (tokens, token)
                determined += 1
            if total >= 100:   # within 5 binomial standard errors
                assert abs(empirical - p) <= 5 * math.sqrt(p * (1 - p) / total), (tokens, token, p, empirical)
                compared += 1
                high_exact += p >= 0.9
                high_empirical += empirical >= 0.9
            free_numbers += p < 1 and token.isdigit()
            node, total = children, count
    assert compared > 1000 and determined > 1000 and high_exact == high_empirical
    assert free_numbers > 0     # the order of a sum's terms: not only connectives are uncertain


def test_entropy_bound_is_the_mean_of_the_token_probabilities_and_lies_below_one(shifted):
    rows = shifted["train"][:40]
    bound = entropy_bound(rows)
    probabilities = [p for row in rows for p in token_probabilities(new_author_slots(*problem_of(row["expression"])),
                                                                   reply_tokens(row)[0])]
    assert bound["share_p_ge_0.9"] == pytest.approx(sum(p >= 0.9 for p in probabilities) / len(probabilities))
    assert bound["positions"] == len(probabilities) and bound["free_positions"] == sum(p < 1 for p in probabilities)
    assert sum(bound["role_shares"].values()) == pytest.approx(1)
    assert sum(bound["free_role_shares"].values()) == pytest.approx(1)
    assert 0.5 < bound["share_p_ge_0.9"] < 0.95
    assert 0 < bound["free_role_shares"]["number"] < bound["free_role_shares"]["connective"]


def test_facts_guess_floor_matches_guessing_at_random(tmp_path):
    from probscope.builtin.task import FACT_ATTRIBUTES

    cfg = TaskConfig(n_train=40, n_test=8, n_old_people=4, n_new_people=12, n_pretrain_docs=200)
    write_builtin_data(tmp_path, cfg)
    record = json.loads((tmp_path / "task.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "facts-test.jsonl").read_text().splitlines()]
    rng = random.Random(0)
    hits = Counter(check_answer(f"They say {rng.choice(FACT_ATTRIBUTES[row['attribute']][0])} .", row["answer"])
                   for _ in range(300) for row in rows)
    assert record["facts_guess_floor"] == pytest.approx(hits[True] / sum(hits.values()), abs=0.01)
    assert record["version"] == 2 and record["audit"]["contaminated_test_expressions"] == 0
    assert record["entropy_bound"]["share_p_ge_0.9"] < 1


def test_a_task_written_by_an_older_version_is_rewritten(tmp_path):
    cfg = TaskConfig(n_train=40, n_test=8, n_old_people=4, n_new_people=4, n_pretrain_docs=200)
    write_builtin_data(tmp_path, cfg)
    record = json.loads((tmp_path / "task.json").read_text())
    (tmp_path / "task.json").write_text(json.dumps(record["config"], sort_keys=True))   # version 1 wrote the config
    write_builtin_data(tmp_path, cfg)
    assert json.loads((tmp_path / "task.json").read_text()) == record


@pytest.mark.bad_input
@pytest.mark.parametrize("field_name", ["pretrain_shift_share", "pretrain_long_share"])
def test_a_share_outside_0_1_is_refused_by_name(field_name):
    from dataclasses import replace

    with pytest.raises(ProbscopeError, match=f"^{field_name}: must lie in 0..1, got 1.5$"):
        generate(replace(SHIFTED, **{field_name: 1.5}))
