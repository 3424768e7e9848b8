"""side_by_side: results in job order, the first failure raised, progress recorded as jobs finish, and the jobs
really run in other processes when workers > 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probscope.parallel import default_workers, side_by_side


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def sleep_then_return(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def write_pid_then_sleep(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(60)


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


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc")
def test_workers_stop_when_their_parent_is_killed(tmp_path):
    """A SIGKILLed parent (no cleanup runs) must not leave workers writing runs that a rerun builds again."""
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from test_parallel import write_pid_then_sleep\n"
              "from probscope.parallel import side_by_side\n"
              "if __name__ == '__main__':\n"
              f"    side_by_side([(write_pid_then_sleep, ({str(tmp_path / 'a')!r},)),\n"
              f"                  (write_pid_then_sleep, ({str(tmp_path / 'b')!r},))], workers=2)\n")
    (tmp_path / "main.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "main.py")], env=env)
    deadline = time.monotonic() + 60
    while not all((tmp_path / name).is_file() and (tmp_path / name).read_text() for name in "ab"):
        assert time.monotonic() < deadline and parent.poll() is None, "the workers never started"
        time.sleep(0.1)
    workers = [int((tmp_path / name).read_text()) for name in "ab"]
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
              for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its killed parent"
        time.sleep(0.2)


@pytest.mark.parametrize("workers", [1, 2])
def test_then_queues_the_jobs_a_finished_job_makes_possible(workers):
    recorded = {}

    def then(index, result):   # runs in this process: an even square among the first jobs queues one more job
        return [(square_and_pid, (result[0] + 1,))] if index < 3 and result[0] % 2 == 0 else []

    results = side_by_side([(square_and_pid, (x,)) for x in (1, 2, 3)], workers=workers, then=then,
                           on_result=lambda index, result: recorded.__setitem__(index, result[0]))
    assert [value for value, _ in results] == [1, 4, 9, 25]
    assert recorded == {0: 1, 1: 4, 2: 9, 3: 25}
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)


@pytest.mark.parametrize("workers", [1, 2])
def test_then_from_a_single_job_still_runs_what_it_queues(workers):
    results = side_by_side([(square_and_pid, (4,))], workers=workers,
                           then=lambda index, result: [(square_and_pid, (3,))] if index == 0 else [])
    assert [value for value, _ in results] == [16, 9]
