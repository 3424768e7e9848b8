"""What the built-in task's generator knows about its own data, recorded in task.json.

* the **entropy bound**: the probability a Bayes-optimal model of the demonstration distribution puts on every
  reply token (it knows the problem and the new author's slots, probscope/builtin/task.py, but not the author's
  choices), summarised as the share of reply tokens at p >= 0.9 and the roles of the positions that are not
  determined. A base model far below the bound has something to learn from the demonstrations.
* the **contamination audit**: how many test expressions occur in the fine-tuning or pretraining demonstrations.
* the **facts guessing floor**: the accuracy of answering every facts question with a random value of its kind.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from probscope.builtin.task import FACT_ATTRIBUTES, Slot, new_author_slots
from probscope.errors import ProbscopeError

Weights = defaultdict[tuple[int, int, int], float]   # (slot, alternative, position) -> probability weight

HIGH_P = 0.9          # "the model is sure": the top bin of the paper's Figure 2
END = "<end>"         # the end of the reply (the tokenizer's eos, role "special" in the probe tables)


def word_tokens(word: str) -> list[str]:
    """The built-in tokenizer's split of one word (Whitespace pre-tokenizer, then every digit on its own)."""
    return [token for piece in re.findall(r"\w+|[^\w\s]+", word) for token in re.findall(r"\d|\D+", piece)]


def reply_tokens(row: dict) -> tuple[list[str], list[str]]:
    """(tokens, roles) of a reply, the end of the reply included, from its text and role spans."""
    tokens, roles = [], []
    for start, end, role in row["spans"]:
        for token in word_tokens(row["completion"][start:end]):
            tokens.append(token)
            roles.append(role)
    return tokens + [END], roles + ["special"]


def token_probabilities(slots: list[Slot], tokens: list[str]) -> list[float]:
    """P(token | the tokens before it, the problem) under the author who writes `slots`, for every token of a reply
    (ending with END). Exact: it follows every way of writing the reply so far, weighted by its probability.

    A state (slot, alternative, position) is a point inside one alternative; a choice multiplies the weight by 1/k.
    """
    alternatives = [[[t for text, _ in alt for word in text.split() for t in word_tokens(word)] for alt in slot]
                    for slot in slots]

    def enter(slot: int, weight: float, states: Weights) -> None:
        if slot == len(alternatives):
            states[(slot, 0, 0)] += weight
            return
        for j, alt in enumerate(alternatives[slot]):
            if alt:
                states[(slot, j, 0)] += weight / len(alternatives[slot])
            else:   # an optional part left out: the next slot starts here
                enter(slot + 1, weight / len(alternatives[slot]), states)

    def next_token(state: tuple[int, int, int]) -> str:
        slot, j, pos = state
        return END if slot == len(alternatives) else alternatives[slot][j][pos]

    states: Weights = defaultdict(float)
    enter(0, 1.0, states)
    probabilities = []
    for i, token in enumerate(tokens):
        matching = {state: w for state, w in states.items() if next_token(state) == token}
        if not matching:
            raise ProbscopeError(f"reply token {i} ({token!r}) cannot be written by this author")
        probabilities.append(sum(matching.values()) / sum(states.values()))
        states = defaultdict(float)
        for (slot, j, pos), w in matching.items():
            if slot == len(alternatives):
                continue
            if pos + 1 < len(alternatives[slot][j]):
                states[(slot, j, pos + 1)] += w
            else:
                enter(slot + 1, w, states)
    return probabilities


def problem_of(expression: str) -> tuple[list[int], list[str]]:
    words = expression.split()
    return [int(w) for w in words[::2]], words[1::2]


def entropy_bound(demonstrations: list[dict]) -> dict:
    """The Bayes-optimal share of reply tokens at p >= 0.9 and the roles of all / of the undetermined positions."""
    at_high_p = 0
    roles: Counter[str] = Counter()
    free_roles: Counter[str] = Counter()
    for row in demonstrations:
        tokens, token_roles = reply_tokens(row)
        for p, role in zip(token_probabilities(new_author_slots(*problem_of(row["expression"])), tokens),
                           token_roles, strict=False):
            at_high_p += p >= HIGH_P
            roles[role] += 1
            if p < 1 - 1e-12:
                free_roles[role] += 1
    n, n_free = sum(roles.values()), sum(free_roles.values())
    return {"share_p_ge_0.9": at_high_p / n, "positions": n, "free_positions": n_free,
            "role_shares": {role: count / n for role, count in sorted(roles.items())},
            "free_role_shares": {role: count / n_free for role, count in sorted(free_roles.items())}}


_PROMPTED_EXPRESSION = re.compile(r"<user> [A-Za-z ]+? (\d+(?: [+-] \d+)+) \?")


def contamination_audit(tests: dict[str, list[dict]], train: list[dict], pretrain: list[dict]) -> dict:
    """How many test expressions are the problem of a fine-tuning or a pretraining demonstration (should be 0)."""
    pretrained = Counter(m for row in pretrain for m in _PROMPTED_EXPRESSION.findall(row["text"]))
    trained = {row["expression"] for row in train}
    test_expressions = {row["expression"] for rows in tests.values() for row in rows}
    return {"checked": len(test_expressions),
            "contaminated_test_expressions": len(test_expressions & (trained | set(pretrained))),
            "pretrain_demonstrations": sum(pretrained.values()), "train_demonstrations": len(train),
            "per_split": {name: sum(row["expression"] in trained or row["expression"] in pretrained for row in rows)
                          for name, rows in tests.items()}}


def facts_guess_floor(facts_test: list[dict]) -> float:
    """Expected accuracy on `facts_test` of answering with a uniformly random value of the asked attribute."""
    return sum(1 / len(FACT_ATTRIBUTES[row["attribute"]][0]) for row in facts_test) / len(facts_test)
