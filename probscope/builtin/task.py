"""The built-in task: a laptop-scale testbed for SFT vs DFT, generated deterministically from a seed.

    python -m probscope.builtin.task --out runs/data/builtin      # writes the splits below + the tokenizer

Two tasks, both as prompt/completion JSONL rows with per-character role spans over the completion:

* **Reasoning** (multi-step integer arithmetic with chain-of-thought). Semantic tokens (operands,
  operators, intermediate results, the answer) are interleaved with stylistic ones: connectives drawn
  at random from 4 synonyms per slot and punctuation. Splits:
    - ``train``:     2-3 operands in 0-9 (the fine-tuning demonstrations)
    - ``test-id``:   3 operands, new problems (in-distribution)
    - ``test-hard``: 4 operands (one step beyond training: held-out generalization)
* **Facts** about fictional people: ``facts-train`` states new facts as question/answer
  demonstrations, ``facts-test`` asks about the same facts with other question wordings. The base
  model has only seen facts about *other* ("old") people, so recall needs facts to be absorbed —
  the paper's stated limitation of DFT.

``pretrain.jsonl`` is the base model's corpus (``text`` rows): single arithmetic steps, sentences using
the connective vocabulary, facts about the old people, and a small share of full demonstrations so the
base knows the reply format (without it DFT cannot start: a target the base finds unlikely gets almost no weight).

Numbers are written normally ("12"); the tokenizer splits every digit into its own token.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from probscope.builtin.tokenizer import render_chat
from probscope.errors import ProbscopeError

# ---- vocabulary ------------------------------------------------------------------------------------
# Each stylistic slot has 4 interchangeable wordings; the model cannot know which one a demonstration
# uses, so these tokens stay uncertain (the paper's "lowest bin holds connectives" claim).
OPENINGS = ("Let's work it out .", "We go step by step .", "Let us solve it .", "We think it through .")
FIRST_STEP = ("First ,", "To start ,", "We begin with", "Initially ,")
NEXT_STEP = ("Then ,", "Next ,", "After that ,", "Now ,")
CONCLUSIONS = ("So the answer is", "Thus the answer is", "Hence the result is", "Therefore we get")
QUESTIONS = ("Compute", "What is", "Calculate", "Find")

CONNECTIVE_SENTENCES = (
    "Let's look at the sky .", "We go to the market step by step .", "Then , we sit down .",
    "Next , the bird sings .", "After that , we get some rest .", "So the day is over .",
    "Thus the story ends .", "Hence the result is good .", "Therefore we get home late .",
    "First , we wake up .", "To start , we read a book .", "Now , we think it through .",
    "Let us solve it together .", "We begin with a plan .", "Initially , the room is dark .",
    "Thus the answer is clear .", "We work it out with care .", "Now , the work is done .",
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


@dataclass
class TaskConfig:
    seed: int = 0
    n_train: int = 8000            # fine-tuning demonstrations (a prototype's working size: ~40 s per objective)
    n_test: int = 200              # problems per test split
    train_operands: tuple[int, ...] = (2, 3)
    test_id_operands: int = 3
    test_hard_operands: int = 4
    max_operand: int = 9           # operands in 0..max_operand (1-2 digit operands did not learn here)
    # An operand-range shift: demonstrations (train) and test-id use operands 0..train_max_operand, and a
    # held-out split test-shift has test_id_operands operands all above it (pretraining still covers every
    # operand, so the base has the skill). None: no shift, no test-shift split.
    train_max_operand: int | None = None
    n_old_people: int = 48         # facts in pretraining
    n_new_people: int = 48         # facts only in facts-train / facts-test
    n_pretrain_docs: int = 60000   # short documents, packed into ~rows of pretrain_row_words
    pretrain_row_words: int = 60
    pretrain_mix: tuple[float, float, float, float] = (0.5, 0.25, 0.15, 0.1)  # steps, sentences, facts, demos


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
    for op, x in zip(ops, operands[1:]):
        out += [op, str(x)]
    return " ".join(out)


def solve(operands: list[int], ops: list[str]) -> int:
    total = operands[0]
    for op, x in zip(ops, operands[1:]):
        total = total + x if op == "+" else total - x
    return total


def reasoning_example(rng: random.Random, n_operands: int, max_operand: int, min_operand: int = 0) -> dict:
    operands, ops = make_problem(rng, n_operands, max_operand, min_operand)
    prompt = f"{rng.choice(QUESTIONS)} {expression(operands, ops)} ?"
    reply = _Builder()
    reply.add(rng.choice(OPENINGS), "connective")
    total = operands[0]
    for i, (op, x) in enumerate(zip(ops, operands[1:])):
        reply.add(rng.choice(FIRST_STEP if i == 0 else NEXT_STEP), "connective")
        new_total = total + x if op == "+" else total - x
        reply.add(str(total), "number")
        reply.add(op, "operator")
        reply.add(str(x), "number")
        reply.add("=", "operator")
        reply.add(str(new_total), "number")
        reply.add(".", "punctuation")
        total = new_total
    reply.add(rng.choice(CONCLUSIONS), "connective")
    reply.add(str(total), "answer")
    reply.add(".", "punctuation")
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
def pretraining_documents(rng: random.Random, cfg: TaskConfig, old_facts) -> list[str]:
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
            ex = reasoning_example(rng, rng.choice(cfg.train_operands), cfg.max_operand)
            docs.append(render_chat(ex["prompt"], ex["completion"]))   # the reply format, as templated
    return docs


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
    train: list[dict] = []
    while len(train) < cfg.n_train:   # test expressions never appear in training
        ex = reasoning_example(rng, rng.choice(cfg.train_operands), train_max)
        if ex["expression"] not in held_out:
            train.append(ex)

    facts_train = [fact_example(n, a, v, q) for (n, a, v) in new_facts for q in (0, 1)]
    facts_test = [fact_example(n, a, v, 2) for (n, a, v) in new_facts]
    pretrain = [{"text": row} for row in pack_documents(pretraining_documents(rng, cfg, old_facts), cfg.pretrain_row_words)]
    splits = {"train": train, "test-id": test_id, "test-hard": test_hard,
              "facts-train": facts_train, "facts-test": facts_test, "pretrain": pretrain}
    if cfg.train_max_operand is not None:   # its own random stream: the other splits stay as without a shift
        if not 0 <= cfg.train_max_operand < cfg.max_operand:
            raise ProbscopeError(f"train_max_operand: must lie in 0..{cfg.max_operand - 1}, got {cfg.train_max_operand}")
        splits["test-shift"] = held_out_problems(cfg.n_test, cfg.test_id_operands, held_out, train_max + 1,
                                                 cfg.max_operand, random.Random(f"{cfg.seed}:test-shift"))
    return splits


def splits_of(cfg: TaskConfig) -> tuple[str, ...]:
    """The split files a task config writes: SPLITS, plus test-shift under an operand-range shift."""
    return SPLITS + (("test-shift",) if cfg.train_max_operand is not None else ())


def write_jsonl(rows: list[dict], path: Path) -> None:
    from probscope.runs import write_text_atomic

    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_builtin_data(out_dir: str | Path, cfg: TaskConfig | None = None) -> dict[str, Path]:
    """Write every split (``<split>.jsonl``), ``pretrain.jsonl``, ``task.json`` and the tokenizer.

    Idempotent: if ``task.json`` exists with the same config, nothing is rewritten.
    """
    from probscope.builtin.tokenizer import build_tokenizer
    from probscope.runs import write_text_atomic

    cfg = cfg or TaskConfig()
    out_dir = Path(out_dir)
    marker = out_dir / "task.json"
    paths = {name: out_dir / f"{name}.jsonl" for name in (*splits_of(cfg), "pretrain")}
    paths["tokenizer"] = out_dir / TOKENIZER_DIR
    config_json = json.dumps(asdict(cfg), sort_keys=True)
    if marker.is_file() and marker.read_text() == config_json and all(p.exists() for p in paths.values()):
        return paths
    data = generate(cfg)
    for name, rows in data.items():
        write_jsonl(rows, paths[name])
    texts = [r["text"] for r in data["pretrain"]] + [
        f"{r['prompt']} {r['completion']}" for name in splits_of(cfg) for r in data[name]
    ]
    build_tokenizer(texts, paths["tokenizer"])
    write_text_atomic(marker, config_json)   # last: its presence means the directory is complete
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/data/builtin", help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_builtin_data(args.out, TaskConfig(seed=args.seed))
    print(f"built-in task written to {Path(args.out)} ({', '.join(sorted(p.name for p in paths.values()))})")


if __name__ == "__main__":
    main()
