"""The built-in task: a laptop-scale testbed for SFT vs DFT, generated deterministically from a seed.

    python -m probscope.builtin.task --out runs/data/builtin      # writes the splits below + the tokenizer

Two tasks, both as prompt/completion JSONL rows with per-character role spans over the completion:

* **Reasoning** (multi-step integer arithmetic with chain-of-thought). Two "authors" write the replies:
    - the *old* author wrote the base model's pretraining demonstrations: one fixed step template whose
      connectives are drawn from 4 synonyms per slot;
    - the *new* author wrote the fine-tuning demonstrations (``train``) in a style the base has not seen:
      several openings and step phrasings, an optional restatement and an optional check, either order of
      a sum's terms, and an explicit tens step for every total of 10 or more. The new author's choices are
      the only uncertainty in a reply, and the generator knows them (``new_author_slots`` below), so the
      Bayes-optimal probability of every reply token is computable (probscope/builtin/bound.py).
  Splits: ``train`` (new author, ``train_operands`` operands), ``test-id`` (3 operands, new problems),
  ``test-hard`` (4 operands over the whole range), ``test-shift`` (under an operand-range shift: 3 operands
  all above ``train_max_operand``). No test expression occurs in ``train`` or in the pretraining corpus.
* **Facts** about fictional people: ``facts-train`` states new facts as question/answer
  demonstrations, ``facts-test`` asks about the same facts with other question wordings. The base
  model has only seen facts about *other* ("old") people, so recall needs facts to be absorbed —
  the paper's stated limitation of DFT.

``pretrain.jsonl`` is the base model's corpus (``text`` rows): single arithmetic steps over every operand,
sentences using the connective vocabulary, facts about the old people, and a share of the old author's full
demonstrations (without them DFT cannot start: a target the base finds unlikely gets almost no weight). Under
an operand-range shift a share ``pretrain_shift_share`` of those demonstrations composes operands of the
held-out range, so the base is partly competent there; a share ``pretrain_long_share`` has 4 operands.

Numbers are written normally ("12"); the tokenizer splits every digit into its own token.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from probscope.builtin.tokenizer import render_chat
from probscope.errors import ProbscopeError

# ---- vocabulary ------------------------------------------------------------------------------------
# The old author (pretraining): each stylistic slot has 4 interchangeable wordings.
OPENINGS = ("Let's work it out .", "We go step by step .", "Let us solve it .", "We think it through .")
FIRST_STEP = ("First ,", "To start ,", "We begin with", "Initially ,")
NEXT_STEP = ("Then ,", "Next ,", "After that ,", "Now ,")
CONCLUSIONS = ("So the answer is", "Thus the answer is", "Hence the result is", "Therefore we get")
QUESTIONS = ("Compute", "What is", "Calculate", "Find")

# The new author (fine-tuning demonstrations). Within a slot the wordings start with different words, so the
# choice is made at one token and the rest of the wording follows from it. "" = the optional part is left out.
NEW_OPENINGS = ("Here is the plan .", "I will go term by term .", "Working from left to right .",
                "My approach is simple .")
NEW_RESTATEMENTS = ("We need {expression} .", "The task is {expression} .", "")
NEW_FIRST_STEP = ("Step one :", "Start :", "Begin :", "Take")
NEW_NEXT_STEP = ("Step next :", "Continue :", "Add on :", "Go on :")
NEW_TENS = ("That is", "Which makes")          # + "{tens} ten(s) and {units} ." for a total of 10 or more
NEW_CHECKS = ("Check :", "Verify :", "")      # + the last step undone
NEW_CONCLUSIONS = ("So the answer is", "Thus the answer is", "Hence the answer is", "The final answer is")

CONNECTIVE_SENTENCES = (
    "Let's look at the sky .", "We go to the market step by step .", "Then , we sit down .",
    "Next , the bird sings .", "After that , we get some rest .", "So the day is over .",
    "Thus the story ends .", "Hence the result is good .", "Therefore we get home late .",
    "First , we wake up .", "To start , we read a book .", "Now , we think it through .",
    "Let us solve it together .", "We begin with a plan .", "Initially , the room is dark .",
    "Thus the answer is clear .", "We work it out with care .", "Now , the work is done .",
    # the new author's words in other uses, so that its style is new but its vocabulary is not
    "Here is the market .", "I will go home .", "Working in the field is hard .", "My approach is slow .",
    "We need a book .", "The task is done .", "Step one is to wake up .", "Start with a plan .",
    "Begin the day .", "Take a book .", "Continue the story .", "Add on a plan .", "Go on home .",
    "That is the room .", "Which makes a good day .", "Check the room .", "Verify the plan .",
    "The final answer is clear .", "Ten birds sing .", "One ten is a lot .",
)

SYLLABLES = ("bra", "ko", "zil", "mer", "ta", "vor", "lin", "du", "sen", "fa", "ru", "gol", "pe", "nix", "ha", "wen")
CITIES = ("Talvar", "Moskin", "Pellow", "Brindle", "Quorra", "Sennet", "Ulmar", "Dovric", "Kester", "Lunde",
          "Varrow", "Ebbin")
JOBS = ("baker", "painter", "farmer", "doctor", "sailor", "teacher", "miner", "singer", "tailor", "writer")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "white", "black")
# attribute -> (value choices, statement template, question wordings). {name}/{value} are filled in.
FACT_ATTRIBUTES = {
    "city": (CITIES, "{name} lives in {value} .",
             ("Where does {name} live ?", "In which town does {name} live ?", "What is the home town of {name} ?")),
    "job": (JOBS, "{name} works as a {value} .",
            ("What is the job of {name} ?", "What does {name} do for work ?", "What work does {name} do ?")),
    "colour": (COLOURS, "The favourite colour of {name} is {value} .",
               ("What is the favourite colour of {name} ?", "Which colour does {name} like best ?",
                "What colour does {name} love ?")),
}

SPLITS = ("train", "test-id", "test-hard", "facts-train", "facts-test")
TOKENIZER_DIR = "tokenizer"   # beside the splits
# Bumped whenever the same TaskConfig would generate other rows; recorded in task.json.
# 2: two authors (new-style demonstrations), decontaminated pretraining, held-out share, entropy bound.
TASK_VERSION = 2


@dataclass
class TaskConfig:
    seed: int = 0
    n_train: int = 8000            # fine-tuning demonstrations (a prototype's working size: ~40 s per objective)
    n_test: int = 200              # problems per test split
    # 3-4 operands: longer than most of the base's pretraining demonstrations (pretrain_operands), so the
    # demonstrations hold problems the base does not solve reliably
    train_operands: tuple[int, ...] = (3, 4)
    test_id_operands: int = 3
    test_hard_operands: int = 4
    max_operand: int = 9           # operands in 0..max_operand (1-2 digit operands did not learn here)
    # An operand-range shift: demonstrations (train) and test-id use operands 0..train_max_operand, and a
    # held-out split test-shift has test_id_operands operands all above it (single steps in pretraining still
    # cover every operand). None: no shift, no test-shift split.
    train_max_operand: int | None = None
    n_old_people: int = 48         # facts in pretraining
    n_new_people: int = 48         # facts only in facts-train / facts-test
    n_pretrain_docs: int = 60000   # short documents, packed into ~rows of pretrain_row_words
    pretrain_row_words: int = 60
    pretrain_mix: tuple[float, float, float, float] = (0.5, 0.25, 0.15, 0.1)  # steps, sentences, facts, demos
    pretrain_operands: tuple[int, ...] = (2, 3)   # operands of the old author's pretraining demonstrations
    # Shares of those demonstrations: with operands of the held-out range (an operand-range shift only), the
    # knob for the base's competence on test-shift; with 4 operands (never a test-hard expression).
    # rho = 0.02 from the sweep in the README (800-step bases, test-shift 36% / 29.5% on seeds 0 / 1; 0.025 gave
    # 63% / 78%, 0.03 51% / 84.5%): a base below a held-out window can be pretrained longer, one above it cannot.
    pretrain_shift_share: float = 0.02
    pretrain_long_share: float = 0.05


# ---- building a reply piece by piece, tracking each piece's role --------------------------------------
class _Builder:
    """Joins (text, role) pieces with single spaces and records [start, end, role] character spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[list] = []
        self.length = 0

    def add(self, text: str, role: str) -> None:
        for word in text.split():
            if self.parts:
                self.length += 1
            role_of_word = "punctuation" if re.fullmatch(r"[.,:?!']+", word) else role
            self.spans.append([self.length, self.length + len(word), role_of_word])
            self.parts.append(word)
            self.length += len(word)

    def text(self) -> str:
        return " ".join(self.parts)


# ---- the reasoning task -----------------------------------------------------------------------------
def make_problem(rng: random.Random, n_operands: int, max_operand: int,
                 min_operand: int = 0) -> tuple[list[int], list[str]]:
    """Operands in min_operand..max_operand and operators (+/-) whose running total never goes below zero."""
    operands = [rng.randint(min_operand, max_operand)]
    ops: list[str] = []
    total = operands[0]
    for _ in range(n_operands - 1):
        x = rng.randint(min_operand, max_operand)
        op = rng.choice("+-")
        if op == "-" and x > total:
            op = "+"
        total = total + x if op == "+" else total - x
        operands.append(x)
        ops.append(op)
    return operands, ops


def expression(operands: list[int], ops: list[str]) -> str:
    out = [str(operands[0])]
    for op, x in zip(ops, operands[1:], strict=False):
        out += [op, str(x)]
    return " ".join(out)


def solve(operands: list[int], ops: list[str]) -> int:
    total = operands[0]
    for op, x in zip(ops, operands[1:], strict=False):
        total = total + x if op == "+" else total - x
    return total


# A reply is written slot by slot: each slot holds equally likely alternatives, each alternative a sequence of
# (text, role) pieces; an empty alternative leaves an optional part out. The choice of one alternative per slot
# is the only randomness in a reply, which is what makes the Bayes-optimal token probabilities computable.
Piece = tuple[str, str]
Alternative = tuple[Piece, ...]
Slot = tuple[Alternative, ...]


def _wordings(texts: tuple[str, ...], **fields: str) -> Slot:
    return tuple(((text.format(**fields), "connective"),) if text else () for text in texts)


def _step(left: int, op: str, right: int, result: int) -> Alternative:
    return ((str(left), "number"), (op, "operator"), (str(right), "number"), ("=", "operator"),
            (str(result), "number"), (".", "punctuation"))


def _running_totals(operands: list[int], ops: list[str]) -> list[int]:
    totals = [operands[0]]
    for op, x in zip(ops, operands[1:], strict=False):
        totals.append(totals[-1] + x if op == "+" else totals[-1] - x)
    return totals


def old_author_slots(operands: list[int], ops: list[str]) -> list[Slot]:
    """The pretraining demonstrations' style: one step template, 4 synonyms per connective slot."""
    totals = _running_totals(operands, ops)
    slots = [_wordings(OPENINGS)]
    for i, (op, x) in enumerate(zip(ops, operands[1:], strict=False)):
        slots += [_wordings(FIRST_STEP if i == 0 else NEXT_STEP), (_step(totals[i], op, x, totals[i + 1]),)]
    return slots + [_wordings(CONCLUSIONS), (((str(totals[-1]), "answer"), (".", "punctuation")),)]


def new_author_slots(operands: list[int], ops: list[str]) -> list[Slot]:
    """The fine-tuning demonstrations' style: more wordings, optional parts, both orders of a sum's terms and an
    explicit tens step (a total of 10 or more is restated as tens and units)."""
    totals = _running_totals(operands, ops)
    slots = [_wordings(NEW_OPENINGS), _wordings(NEW_RESTATEMENTS, expression=expression(operands, ops))]
    for i, (op, x) in enumerate(zip(ops, operands[1:], strict=False)):
        orders = {_step(totals[i], op, x, totals[i + 1])}
        if op == "+":   # a sum's terms in either order (one alternative when they are equal)
            orders.add(_step(x, op, totals[i], totals[i + 1]))
        slots += [_wordings(NEW_FIRST_STEP if i == 0 else NEW_NEXT_STEP), tuple(sorted(orders))]
        if totals[i + 1] >= 10:
            tens, units = divmod(totals[i + 1], 10)
            restated = ((str(tens), "number"), ("ten" if tens == 1 else "tens", "connective"), ("and", "connective"),
                        (str(units), "number"), (".", "punctuation"))
            slots.append(tuple(((opener, "connective"), *restated) for opener in NEW_TENS))
    undo = "-" if ops[-1] == "+" else "+"
    check = _step(totals[-1], undo, operands[-1], totals[-2])
    slots.append(tuple(((text, "connective"), *check) if text else () for text in NEW_CHECKS))
    return slots + [_wordings(NEW_CONCLUSIONS), (((str(totals[-1]), "answer"), (".", "punctuation")),)]


def write_reply(rng: random.Random, slots: list[Slot]) -> _Builder:
    reply = _Builder()
    for slot in slots:
        for text, role in rng.choice(slot):
            reply.add(text, role)
    return reply


def reasoning_example(rng: random.Random, n_operands: int, max_operand: int, min_operand: int = 0,
                      author: Callable[[list[int], list[str]], list[Slot]] = new_author_slots) -> dict:
    operands, ops = make_problem(rng, n_operands, max_operand, min_operand)
    prompt = f"{rng.choice(QUESTIONS)} {expression(operands, ops)} ?"
    reply = write_reply(rng, author(operands, ops))
    total = solve(operands, ops)
    return {"task": "reasoning", "prompt": prompt, "completion": reply.text(), "answer": str(total),
            "spans": reply.spans, "expression": expression(operands, ops)}


_ANSWER = re.compile(r"(?:answer is|result is|we get)\s+((?:\d\s*)+)\s*\.?\s*$")


def extract_answer(reply: str) -> str | None:
    """The final number of a reasoning reply ("... So the answer is 1 2 ." -> "12"), or None."""
    m = _ANSWER.search(reply.strip())
    return re.sub(r"\s+", "", m.group(1)) if m else None


def check_answer(reply: str, answer: str) -> bool:
    """Automatic checker for both tasks: exact final number (reasoning) or the fact's value (facts)."""
    if answer.isdigit():
        return extract_answer(reply) == answer
    return answer in reply.split()


# ---- the factual task -------------------------------------------------------------------------------
def make_people(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize())
    return sorted(names)


def assign_facts(rng: random.Random, people: list[str]) -> list[tuple[str, str, str]]:
    """(name, attribute, value) for every person and attribute."""
    return [(name, attr, rng.choice(values)) for name in people for attr, (values, _, _) in FACT_ATTRIBUTES.items()]


def fact_example(name: str, attr: str, value: str, question_index: int) -> dict:
    _, statement, questions = FACT_ATTRIBUTES[attr]
    reply = _Builder()
    for piece in re.split(r"(\{name\}|\{value\})", statement):
        if piece == "{name}":
            reply.add(name, "fact")
        elif piece == "{value}":
            reply.add(value, "fact")
        else:
            reply.add(piece, "connective")
    return {"task": "facts", "prompt": questions[question_index].format(name=name), "completion": reply.text(),
            "answer": value, "spans": reply.spans, "attribute": attr}


# ---- the pretraining corpus -------------------------------------------------------------------------
def pretraining_documents(rng: random.Random, cfg: TaskConfig, old_facts, held_out: set[str]) -> list[str]:
    """The base's corpus as short documents; no demonstration in it has the expression of a test problem."""
    kinds = rng.choices(range(4), weights=cfg.pretrain_mix, k=cfg.n_pretrain_docs)
    docs = []
    for kind in kinds:
        if kind == 0:    # one arithmetic step, the prior competence the demonstrations build on
            a = rng.randint(0, cfg.test_hard_operands * cfg.max_operand)   # any running total of a problem
            b = rng.randint(0, cfg.max_operand)
            op = rng.choice("+-") if a >= b else "+"
            docs.append(f"{a} {op} {b} = {a + b if op == '+' else a - b} .")
        elif kind == 1:
            docs.append(rng.choice(CONNECTIVE_SENTENCES))
        elif kind == 2:
            name, attr, value = rng.choice(old_facts)
            ex = fact_example(name, attr, value, rng.randrange(3))
            docs.append(f"{ex['prompt']} {ex['completion']}" if rng.random() < 0.5 else ex["completion"])
        else:
            ex = old_demonstration(rng, cfg, held_out)
            docs.append(render_chat(ex["prompt"], ex["completion"]))   # the reply format, as templated
    return docs


def old_demonstration(rng: random.Random, cfg: TaskConfig, held_out: set[str]) -> dict:
    """One of the old author's demonstrations, redrawn until its expression is no test problem's."""
    low_range = (0, cfg.max_operand if cfg.train_max_operand is None else cfg.train_max_operand)
    while True:
        n_operands = cfg.test_hard_operands if rng.random() < cfg.pretrain_long_share else rng.choice(
            cfg.pretrain_operands)
        low, high = low_range
        if cfg.train_max_operand is not None and rng.random() < cfg.pretrain_shift_share:
            low, high = cfg.train_max_operand + 1, cfg.max_operand
        ex = reasoning_example(rng, n_operands, high, low, author=old_author_slots)
        if ex["expression"] not in held_out:
            return ex


def pack_documents(docs: list[str], row_words: int) -> list[str]:
    """Concatenate short documents into rows of about `row_words` words (cheaper than padding)."""
    rows, current, n = [], [], 0
    for doc in docs:
        current.append(doc)
        n += len(doc.split())
        if n >= row_words:
            rows.append(" ".join(current))
            current, n = [], 0
    if current:
        rows.append(" ".join(current))
    return rows


# ---- everything, deterministically ----------------------------------------------------------------------
def generate(cfg: TaskConfig) -> dict[str, list[dict]]:
    """All splits plus the pretraining corpus, as lists of JSON-able rows. Same seed -> same rows."""
    for name in ("pretrain_shift_share", "pretrain_long_share"):
        if not 0 <= getattr(cfg, name) <= 1:
            raise ProbscopeError(f"{name}: must lie in 0..1, got {getattr(cfg, name)}")
    rng = random.Random(cfg.seed)
    people = make_people(rng, cfg.n_old_people + cfg.n_new_people)
    rng.shuffle(people)
    old_facts = assign_facts(rng, people[: cfg.n_old_people])
    new_facts = assign_facts(rng, people[cfg.n_old_people:])

    train_max = cfg.max_operand if cfg.train_max_operand is None else cfg.train_max_operand

    def held_out_problems(n: int, n_operands: int, taken: set[str], low: int = 0, high: int = cfg.max_operand,
                          source: random.Random = rng) -> list[dict]:
        out: list[dict] = []
        while len(out) < n:
            ex = reasoning_example(source, n_operands, high, low)
            if ex["expression"] not in taken:
                taken.add(ex["expression"])
                out.append(ex)
        return out

    held_out: set[str] = set()
    test_id = held_out_problems(cfg.n_test, cfg.test_id_operands, held_out, high=train_max)
    test_hard = held_out_problems(cfg.n_test, cfg.test_hard_operands, held_out)
    tests = {"test-id": test_id, "test-hard": test_hard}
    if cfg.train_max_operand is not None:   # its own random stream: the other test splits stay as without a shift
        if not 0 <= cfg.train_max_operand < cfg.max_operand:
            raise ProbscopeError(
                f"train_max_operand: must lie in 0..{cfg.max_operand - 1}, got {cfg.train_max_operand}")
        tests["test-shift"] = held_out_problems(cfg.n_test, cfg.test_id_operands, held_out, train_max + 1,
                                                cfg.max_operand, random.Random(f"{cfg.seed}:test-shift"))
    train: list[dict] = []
    while len(train) < cfg.n_train:   # test expressions never appear in training
        ex = reasoning_example(rng, rng.choice(cfg.train_operands), train_max)
        if ex["expression"] not in held_out:
            train.append(ex)

    facts_train = [fact_example(n, a, v, q) for (n, a, v) in new_facts for q in (0, 1)]
    facts_test = [fact_example(n, a, v, 2) for (n, a, v) in new_facts]
    documents = pretraining_documents(rng, cfg, old_facts, held_out)
    pretrain = [{"text": row} for row in pack_documents(documents, cfg.pretrain_row_words)]
    return {"train": train, **tests, "facts-train": facts_train, "facts-test": facts_test, "pretrain": pretrain}


def splits_of(cfg: TaskConfig) -> tuple[str, ...]:
    """The split files a task config writes: SPLITS, plus test-shift under an operand-range shift."""
    return SPLITS + (("test-shift",) if cfg.train_max_operand is not None else ())


def write_jsonl(rows: list[dict], path: Path) -> None:
    from probscope.runs import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_builtin_data(out_dir: str | Path, cfg: TaskConfig | None = None) -> dict[str, Path]:
    """Write every split (``<split>.jsonl``), ``pretrain.jsonl``, ``task.json`` and the tokenizer.

    ``task.json`` holds the task version, the config, the contamination audit, the demonstrations' entropy bound
    and the facts guessing floor (probscope/builtin/bound.py). Idempotent: if ``task.json`` exists with the same
    version and config, nothing is rewritten.
    """
    from probscope.builtin.bound import contamination_audit, entropy_bound, facts_guess_floor
    from probscope.builtin.tokenizer import build_tokenizer
    from probscope.runs import write_text_atomic

    cfg = cfg or TaskConfig()
    out_dir = Path(out_dir)
    marker = out_dir / "task.json"
    paths = {name: out_dir / f"{name}.jsonl" for name in (*splits_of(cfg), "pretrain")}
    paths["tokenizer"] = out_dir / TOKENIZER_DIR
    identity = {"version": TASK_VERSION, "config": json.loads(json.dumps(asdict(cfg)))}
    if marker.is_file() and all(p.exists() for p in paths.values()):
        try:
            written = json.loads(marker.read_text())
        except json.JSONDecodeError:
            written = None
        if isinstance(written, dict) and {k: written.get(k) for k in identity} == identity:
            return paths
    data = generate(cfg)
    for name, rows in data.items():
        write_jsonl(rows, paths[name])
    texts = [r["text"] for r in data["pretrain"]] + [
        f"{r['prompt']} {r['completion']}" for name in splits_of(cfg) for r in data[name]
    ]
    build_tokenizer(texts, paths["tokenizer"])
    tests = {name: data[name] for name in splits_of(cfg) if name.startswith("test-")}
    record = {**identity, "audit": contamination_audit(tests, data["train"], data["pretrain"]),
              "entropy_bound": entropy_bound(data["train"]), "facts_guess_floor": facts_guess_floor(data["facts-test"])}
    write_text_atomic(marker, json.dumps(record, indent=2, sort_keys=True))   # last: it marks the directory complete
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/data/builtin", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_builtin_data(args.out, TaskConfig(seed=args.seed))
    # the `python -m` entry point installs no log handler, so its one line of news goes to stdout
    written = ", ".join(sorted(p.name for p in paths.values()))
    print(f"built-in task written to {Path(args.out)} ({written})")  # noqa: T201


if __name__ == "__main__":
    main()
