"""Grading generations against reference answers: extraction + math-verify equivalence, with a time limit.

    from probscope.evaluate.grading import grade_all
    grades = grade_all(["... so \\boxed{\\frac{1}{2}}", "#### 1,000"], ["0.5", "1000"])
    grades[0].correct, grades[0].answer, grades[0].reason      # True, '\\frac{1}{2}', None

The final answer of a generation is, in this order: the last ``\\boxed{...}`` (nested braces), the text
after the last GSM8K ``#### ``, the text after the last "answer is", else whatever math-verify's own
extraction finds (plain numbers, LaTeX). Equivalence is math-verify's (`verify(parse(gold), parse(pred))`):
thousands separators, trailing zeros, fractions vs decimals, percentages, sets and LaTeX are its business.

A wrong sample carries a reason: "no answer" (nothing extractable), "mismatch", or "timeout" (parsing or
comparing took longer than `time_limit`: one pathological expression must not hang a run). The limit is a
SIGALRM timer around each sample, which only works in a process's main thread; `grade_all` therefore
grades in worker processes (whose tasks run in their main threads) whenever it is not in the main thread
or when more than one worker is asked for. Parsed golds are cached per process.
"""

from __future__ import annotations

import math
import os
import re
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from probscope.data.formats import last_boxed
from probscope.registry import Registry

NO_ANSWER = "no answer"
MISMATCH = "mismatch"
TIMEOUT = "timeout"
REASONS = (NO_ANSWER, MISMATCH, TIMEOUT)
DEFAULT_TIME_LIMIT = 5.0     # seconds per sample (parse + compare)
_CHUNK = 64                  # samples per task sent to a worker process


@dataclass(frozen=True)
class Grade:
    answer: str | None      # the extracted final answer (None: nothing extractable)
    correct: bool
    reason: str | None      # None when correct, else one of REASONS


# A grader turns (generations, gold answers) into one Grade per generation; a benchmark names its grader.
Grader = Callable[..., list[Grade]]
GRADERS: Registry[Grader] = Registry("grader")


# ---- gold answers: the many shapes public benchmark copies use ---------------------------------------------
def gold_text(value) -> str | None:
    """A reference answer as a string: floats lose a zero fraction (36.0 -> "36"), one-element lists are
    their element, longer lists a comma-separated tuple, a solution text its last \\boxed{} or GSM8K's
    "#### N". None when there is nothing (missing, empty, or a solution without a final answer)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):   # NaN (a pandas/Parquet null) or inf: no reference answer
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        parts = [p for p in (gold_text(v) for v in value) if p]
        return ", ".join(parts) if parts else None
    text = str(value).strip()
    if "\\boxed" in text or "####" in text:
        return final_answer_text(text)
    return _strip_math(text) or None


def gold_from_solution(solution) -> str | None:
    """The final answer inside a worked solution (last \\boxed{}, or GSM8K's "#### N")."""
    return final_answer_text(str(solution)) if solution is not None else None


# ---- predictions -------------------------------------------------------------------------------------------
_HASHES = re.compile(r"####\s*(.+)")
_ANSWER_IS = re.compile(r"answer is[:\s]*(.+)", re.IGNORECASE)


def final_answer_text(text: str) -> str | None:
    """The explicitly marked final answer of a text: last \\boxed{}, last "#### x", last "answer is x"."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip() or None
    for pattern in (_HASHES, _ANSWER_IS):
        matches = pattern.findall(text)
        if matches:
            return _strip_math(_first_sentence(matches[-1])) or None
    return None


def _first_sentence(text: str) -> str:
    """'42. Then ...' -> '42'; keeps decimals ('3.5') and LaTeX inside $...$ intact."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    m = re.search(r"\.(\s|$)", line)
    return line[:m.start()] if m else line


def _strip_math(text: str) -> str:
    text = text.strip().rstrip(".").strip()
    if len(text) >= 2 and text[0] == text[-1] == "$":
        text = text.strip("$").strip()
    return text


# ---- math-verify, one sample at a time --------------------------------------------------------------------
class _OutOfTime(BaseException):
    """BaseException so math-verify's own `except Exception` cannot swallow it."""


@lru_cache(maxsize=65536)
def _parse_latex(text: str) -> tuple:
    from math_verify import parse

    return tuple(parse(f"${text}$", parsing_timeout=None))


@lru_cache(maxsize=4096)
def _parse_free(text: str) -> tuple:
    from math_verify import parse

    return tuple(parse(text, parsing_timeout=None))


def grade_math(prediction: str, gold: str | None, time_limit: float = DEFAULT_TIME_LIMIT) -> Grade:
    """One generation against one gold answer (see the module doc); call from a main thread."""
    from math_verify import verify

    marked = final_answer_text(prediction)
    try:
        with _time_limit(time_limit):
            parsed = _parse_latex(marked) if marked is not None else _parse_free(prediction)
            answer = marked if marked is not None else (str(parsed[-1]) if parsed else None)
            if answer is None:
                return Grade(None, False, NO_ANSWER)
            if gold is None:
                return Grade(answer, False, MISMATCH)
            ok = bool(parsed) and verify(list(_parse_latex(gold)), list(parsed), timeout_seconds=None)
    except _OutOfTime:
        return Grade(marked, False, TIMEOUT)
    return Grade(answer, True, None) if ok else Grade(answer, False, MISMATCH)


class _time_limit:
    """SIGALRM after `seconds` (a no-op for seconds <= 0, outside the main thread, or without SIGALRM: Windows)."""

    def __init__(self, seconds: float):
        usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        self.seconds = seconds if usable else 0

    def __enter__(self):
        if self.seconds > 0:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)

    @staticmethod
    def _expire(signum, frame):
        raise _OutOfTime()


def _grade_chunk(chunk: list[tuple[str, str | None]], time_limit: float) -> list[Grade]:
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)   # its "timeout disabled" warning: ours is on
    return [grade_math(pred, gold, time_limit) for pred, gold in chunk]


@GRADERS.register("math-verify")
def grade_all(predictions: Sequence[str], golds: Sequence[str | None], *, workers: int | None = None,
              time_limit: float = DEFAULT_TIME_LIMIT, progress: bool = False) -> list[Grade]:
    """Grade predictions[i] against golds[i] (gold strings as `gold_text` makes them).

    workers: processes (default: one per available core, at most 8; 1 grades here, in the main thread).
    Samples are sent in chunks sorted by gold, so each worker parses a gold about once."""
    from tqdm.auto import tqdm

    from probscope.checks import check_count, check_number

    check_count("workers", workers, optional=True)
    check_number("time_limit", time_limit, low=0.0, low_open=True)
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} golds")
    pairs = list(zip(predictions, golds, strict=False))
    workers = workers or min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                             else os.cpu_count() or 1)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and (workers <= 1 or len(pairs) <= _CHUNK):     # starting processes would cost more
        return _grade_chunk(pairs, time_limit)
    order = sorted(range(len(pairs)), key=lambda i: (pairs[i][1] or "", i))
    chunks = [order[i:i + _CHUNK] for i in range(0, len(order), _CHUNK)]
    grades: list[Grade | None] = [None] * len(pairs)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # fork: workers start at once and need no `if __name__ == "__main__"` guard in the caller's script; they
    # run only sympy (never torch), so torch's thread pools in the parent do not matter to them
    with ProcessPoolExecutor(max(1, workers), mp_context=get_context("fork")) as pool, \
            tqdm(total=len(pairs), unit="answer", desc="grade", disable=not progress) as bar:
        futures = {pool.submit(_grade_chunk, [pairs[i] for i in chunk], time_limit): chunk for chunk in chunks}
        for future, chunk in futures.items():
            for i, grade in zip(chunk, future.result(), strict=False):
                grades[i] = grade
            bar.update(len(chunk))
    return grades  # type: ignore[return-value]


# ---- the built-in task's own checker --------------------------------------------------------------------------
@GRADERS.register("builtin")
def grade_builtin(predictions: Sequence[str], golds: Sequence[str | None], **_) -> list[Grade]:
    """probscope.builtin.task's checker: the exact final number (reasoning) or the fact's value (facts)."""
    from probscope.builtin.task import check_answer, extract_answer

    grades = []
    for reply, gold in zip(predictions, golds, strict=False):
        gold = gold or ""
        if gold.isdigit():
            answer = extract_answer(reply)
        else:   # a fact: the reply states the value somewhere
            answer = gold if check_answer(reply, gold) else (reply.split()[-1] if reply.split() else None)
        if answer is None:
            grades.append(Grade(None, False, NO_ANSWER))
        elif check_answer(reply, gold):
            grades.append(Grade(answer, True, None))
        else:
            grades.append(Grade(answer, False, MISMATCH))
    return grades
