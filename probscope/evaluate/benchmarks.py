"""Benchmarks as small declarative definitions: where the problems are, which fields hold the question and
the answer, how to prompt, how long to generate, and which grader judges.

    from probscope.evaluate.benchmarks import BENCHMARKS, load_problems
    bench = BENCHMARKS.get("math500")
    problems = load_problems(bench, data="math500_test.jsonl")   # list[Problem]; errors name file and line

A new benchmark is one `BENCHMARKS.add(Benchmark(...))`. Field names are lists of candidates because public
copies of one benchmark disagree (`problem` vs `question`, `answer` vs `final_answer` vs `Answer`); the first
candidate present in the first row is used, for every row. Answers may be strings, numbers (36.0), lists
(["2"]) or only a worked solution's \\boxed{} (see grading.gold_text). The real benchmarks ship no data:
pass a local file (or, explicitly, a hub dataset name) as `data`. The built-in splits live under the
runs root (runs.BUILTIN_DATA), where the demo writes them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.registry import Registry
from probscope.runs import BUILTIN_DATA

# Qwen2.5-Math's evaluation instruction (the DFT paper evaluates with it)
STEP_BY_STEP = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."

# Answer fields that hold a worked solution: only its last \boxed{} (or "#### N") is the answer
SOLUTION_FIELDS = ("solution", "Solution")


@dataclass(frozen=True)
class Benchmark:
    name: str
    question: tuple[str, ...] = field(metadata={"help": "candidate names of the question field"})
    answer: tuple[str, ...] = field(metadata={"help": "candidate names of the answer field (an answer, or a "
                                                      "solution whose last \\boxed{} / '#### N' is the answer)"})
    prompt: str = field(default=STEP_BY_STEP, metadata={"help": "prompt template; {question} is replaced"})
    max_new_tokens: int = field(default=2048, metadata={"help": "generation budget per sample"})
    grader: str = field(default="math-verify", metadata={"help": "grading.GRADERS name"})
    data: str | None = field(default=None, metadata={
        "help": "default data file (relative to the runs root); None: the user passes one"})
    split: str = field(default="test", metadata={"help": "split to read when data is a hub dataset name"})
    ids: tuple[str, ...] = field(default=("unique_id", "id", "idx", "ID"), metadata={
        "help": "candidate names of a problem-id field; without one, a hash of the question"})
    example_hint: str = field(default="", metadata={"help": "where to get the data, for the error message"})


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    gold: str             # the reference answer as grading.gold_text made it
    prompt: str           # the question in the benchmark's template


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def _add(bench: Benchmark) -> None:
    BENCHMARKS.add(bench.name, bench)


_add(Benchmark("math500", ("problem", "question"), ("answer", "solution"),
               example_hint="a MATH-500 JSONL such as HuggingFaceH4/MATH-500's test.jsonl"))
_add(Benchmark("gsm8k", ("question", "problem"), ("answer",), max_new_tokens=1024,
               example_hint="GSM8K's test.jsonl (answers end with '#### N')"))
_add(Benchmark("minerva-math", ("problem", "question"), ("answer", "final_answer", "solution"),
               example_hint="a Minerva-Math JSONL (e.g. math-ai/minervamath)"))
_add(Benchmark("olympiadbench", ("question", "problem"), ("final_answer", "answer", "solution"),
               example_hint="OlympiadBench's English text-only maths JSONL"))
_add(Benchmark("aime24", ("problem", "question", "Problem"), ("answer", "Answer", "solution", "Solution"),
               max_new_tokens=4096, example_hint="an AIME 2024 JSONL (e.g. math-ai/aime24)"))
_add(Benchmark("aime25", ("problem", "question", "Problem"), ("answer", "Answer", "solution", "Solution"),
               max_new_tokens=4096, example_hint="an AIME 2025 JSONL (e.g. math-ai/aime25)"))
_add(Benchmark("amc23", ("question", "problem"), ("answer", "solution"),
               example_hint="an AMC 2023 JSONL (e.g. math-ai/amc23)"))
# The built-in task's splits: its own prompt format (the chat template of the built-in tokenizer) and checker.
# budgets: the longest reference reply of the split (task version 2: 56, 87, 69 tokens) plus room
for _split, _tokens in (("test-id", 80), ("test-hard", 112), ("test-shift", 96), ("facts-test", 24)):
    _add(Benchmark(f"builtin-{_split}", ("prompt",), ("answer",), prompt="{question}", max_new_tokens=_tokens,
                   grader="builtin", data=str(BUILTIN_DATA / f"{_split}.jsonl"),
                   example_hint="build the built-in data with `probscope demo --no-serve`"))


def data_source(bench: Benchmark, data: str | os.PathLike | None, runs_root: str | os.PathLike = "runs") -> str:
    """The file (or explicit hub name) to read: `data` when given, else the definition's default."""
    if data is not None:
        return str(data)
    if bench.data is None:
        raise ProbscopeError(f"benchmark {bench.name!r} needs its problems: pass --data FILE "
                             f"({bench.example_hint}; a hub dataset name is read only when you pass one)")
    path = Path(bench.data)
    return str(path if path.is_absolute() else Path(runs_root) / path)


def load_problems(bench: Benchmark, data: str | os.PathLike | None = None, *, runs_root: str | os.PathLike = "runs",
                  limit: int | None = None) -> list[Problem]:
    """The benchmark's problems (first `limit`), fields checked before anything is generated."""
    from probscope.checks import check_count
    from probscope.data import read_records
    from probscope.evaluate.grading import gold_from_solution, gold_text

    check_count("limit", limit, optional=True)
    source = data_source(bench, data, runs_root)
    if Path(source).suffix and not Path(source).exists():
        raise ProbscopeError(f"{source}: benchmark file {bench.name!r} not found ({bench.example_hint})")
    rows = read_records(source, split=bench.split)
    if not rows:
        raise ProbscopeError(f"{source}: no problems in the file")
    rows = rows[:limit] if limit is not None else rows
    question = _pick_field(bench.question, rows[0], source, bench, "question")
    answer = _pick_field(bench.answer, rows[0], source, bench, "answer")
    id_field = next((name for name in bench.ids if name in rows[0]), None)
    problems = []
    seen: dict[str, int] = {}   # how often each problem id came so far
    for line, row in enumerate(rows, 1):
        for name in (question, answer):
            if name not in row:
                raise ProbscopeError(f"{source}: row {line}: no {name!r} field (the first row has it)")
        if not isinstance(row[question], str) or not row[question].strip():
            raise ProbscopeError(f"{source}: row {line}: field {question!r} is not a non-empty string")
        pid = str(row[id_field]) if id_field else _hash(row[question])
        seen[pid] = seen.get(pid, 0) + 1
        if seen[pid] > 1:          # duplicated problems keep distinct ids, in order of appearance
            pid = f"{pid}#{seen[pid]}"
        gold = gold_from_solution(row[answer]) if answer in SOLUTION_FIELDS else gold_text(row[answer])
        if gold is None:
            raise ProbscopeError(f"{source}: row {line}: no reference answer in field {answer!r} "
                                 f"(empty, or a solution without \\boxed{{}} or '#### N')")
        problems.append(Problem(pid, row[question], gold, _render(bench, row[question])))
    return problems


def _pick_field(candidates: tuple[str, ...], row: dict, source: str, bench: Benchmark, what: str) -> str:
    for name in candidates:
        if name in row:
            return name
    raise ProbscopeError(f"{source}: benchmark {bench.name!r} reads its {what} from field "
                         f"{' or '.join(map(repr, candidates))}, but the rows have {', '.join(map(repr, row))}")


def _render(bench: Benchmark, question: str) -> str:
    return bench.prompt.format(question=question)


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
