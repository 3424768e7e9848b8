"""Checks of the numeric arguments of the notebook API, at the boundary: a wrong value is a one-line
ProbscopeError naming the argument, never a silently empty or misread result.

    from probscope.checks import check_count, check_probability
    check_count("top", top, optional=True)          # None, or an integer >= 1
    check_probability("upper", upper)               # a p threshold in (0, 1]
    tokens = check_tokens("tokens", tokens, [schema.P, schema.SUM_P2])   # a polars frame with these columns
    check_valid_p("tokens", tokens)                 # no p missing, NaN or outside [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError


def check_count(name: str, value, *, minimum: int = 1, optional: bool = False) -> None:
    """`value` is an integer >= `minimum` (or None when `optional`)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        none = " (or None for no limit)" if optional else ""
        raise ProbscopeError(f"{name}={value!r}: must be an integer >= {minimum}{none}")


def check_number(name: str, value, *, low: float, high: float = math.inf, low_open: bool = False,
                 high_open: bool = False, optional: bool = False) -> None:
    """`value` is a real number in the interval from `low` to `high` (open or closed at each end)."""
    if value is None and optional:
        return
    ok = isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
        raise ProbscopeError(f"{name}={value!r}: must be a number in {interval}"
                             + (" (or None)" if optional else ""))


def check_probability(name: str, value, *, optional: bool = False) -> None:
    """`value` is an upper threshold on p: in (0, 1] (p < 0 never holds, so 0 would select nothing)."""
    check_number(name, value, low=0.0, high=1.0, low_open=True, optional=optional)


def check_confidence(name: str, value) -> None:
    """`value` is a confidence level in (0, 1)."""
    check_number(name, value, low=0.0, high=1.0, low_open=True, high_open=True)


def check_sampling(k, temperature) -> None:
    """k samples per problem need sampling: with temperature 0 every sample would be the same greedy reply
    (k = 1 is greedy decoding). Shared by every command that samples (eval, sample)."""
    if isinstance(k, Integral) and int(k) > 1 and isinstance(temperature, Real) and temperature <= 0:
        raise ProbscopeError(f"temperature={temperature!r} with k={k}: k samples need a temperature > 0 "
                             "(temperature 0 is greedy decoding: k identical replies); use k=1 for greedy")


def check_tokens(name: str, frame, columns: Sequence[str]) -> pl.DataFrame | pl.LazyFrame:
    """`frame` as a polars frame holding `columns`: a pandas frame is converted, anything else or a missing
    column is a one-line error naming the argument."""
    if type(frame).__module__.split(".")[0] == "pandas" and type(frame).__name__ == "DataFrame":
        frame = pl.from_pandas(frame)
    if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
        raise ProbscopeError(f"{name}: expected a polars DataFrame or LazyFrame of probe tokens (ps.load_tokens), "
                             f"found {type(frame).__name__}")
    present = frame.collect_schema().names()
    missing = [column for column in columns if column not in present]
    if missing:
        raise ProbscopeError(f"{name}: missing column(s) {', '.join(missing)} "
                             f"(found: {', '.join(present) or 'none'})")
    return frame


def check_valid_p(name: str, frame: pl.DataFrame | pl.LazyFrame) -> None:
    """No row of `frame` has p missing, NaN or outside [0, 1] (such a row would be dropped or spread NaN)."""
    invalid = frame.lazy().select((schema.bin_index(pl.col(schema.P)) == schema.INVALID_BIN).sum()).collect().item()
    if invalid:
        raise ProbscopeError(f"{name}: {invalid} rows have p missing, NaN or outside [0, 1]; "
                             "check the probe tables that produced them")
