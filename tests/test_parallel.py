"""side_by_side: results in job order, the first failure raised, progress recorded as jobs finish, and the jobs
really run in other processes when workers > 1."""

from __future__ import annotations

import os
import time

import pytest

from probscope.parallel import default_workers, side_by_side


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def sleep_then_return(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"job {x} failed")
    return x


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_job_order_and_each_is_recorded(workers):
    recorded = {}
    results = side_by_side([(square_and_pid, (x,)) for x in range(5)], workers=workers,
                           on_result=lambda index, result: recorded.__setitem__(index, result[0]))
    assert [value for value, _ in results] == [0, 1, 4, 9, 16]
    assert recorded == {index: index * index for index in range(5)}
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_failure_is_raised(workers):
    with pytest.raises(ValueError, match="job 2 failed"):
        side_by_side([(fail_on_two, (x,)) for x in range(3)], workers=workers)


def test_default_workers_is_the_usable_cores():
    assert 1 <= default_workers() <= (os.cpu_count() or 1)


def test_each_result_is_recorded_as_soon_as_its_job_finishes():
    finished = []
    side_by_side([(sleep_then_return, (3.0,)), (sleep_then_return, (0.0,))], workers=2,
                 on_result=lambda index, result: finished.append((index, time.monotonic())))
    assert [index for index, _ in finished] == [1, 0]           # the quick job first, not both at the end
    assert finished[1][1] - finished[0][1] > 1.5
