"""Independent stages side by side: the built-in pipelines (the demo's runs, the replication's seeds) hand their
independent jobs to `side_by_side`, which runs them in worker processes, one torch thread each.

    results = side_by_side([(build_seed, (cfg, 0)), (build_seed, (cfg, 1))], workers=2, desc="seeds")

Why processes with one thread each: a tiny model's matrix products are too small to split across threads (a
2-thread training run measured 10-20x slower than a 1-thread one whenever anything else used a core), so two
independent 1-thread runs on two cores finish in about half the time of the same runs one after the other.
Workers are spawned, not forked: a fork of a process that already ran torch can deadlock in its thread pools.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

Job = tuple[Callable[..., Any], tuple[Any, ...]]


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def side_by_side(jobs: Sequence[Job], workers: int, desc: str = "jobs",
                 on_result: Callable[[int, Any], None] | None = None,
                 then: Callable[[int, Any], Sequence[Job]] | None = None) -> list[Any]:
    """Each job's `function(*args)`, in order; with `workers` > 1 they run in that many spawned processes (the
    functions and arguments must pickle: module-level functions, dataclasses, paths). `on_result(index, result)`
    is called in this process as each job finishes (to record progress that must survive a kill). `then(index,
    result)`: the further jobs a finished job makes possible (a seed's runs once its base exists), queued behind
    the others in the same pool, so that no worker waits for a whole stage to end; their indices and results
    follow the jobs' in the order they were queued. The first job that raises stops the rest and its exception
    is raised here."""
    from tqdm.auto import tqdm

    jobs = list(jobs)
    results: list[Any] = []
    with tqdm(total=len(jobs), desc=desc, unit="job") as progress:

        def finished(index: int, result: Any) -> list[Job]:
            results[index] = result
            if on_result:
                on_result(index, result)
            progress.update()
            more = list(then(index, result)) if then else []
            jobs.extend(more)
            results.extend([None] * len(more))
            progress.total = len(jobs)
            progress.refresh()
            return more

        results.extend([None] * len(jobs))
        if workers <= 1 or (len(jobs) <= 1 and then is None):
            index = 0
            while index < len(jobs):    # jobs grows as `then` queues more
                function, args = jobs[index]
                finished(index, function(*args))
                index += 1
            return results
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from multiprocessing import get_context

        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                                 initargs=(os.getpid(), logging.getLogger("probscope").getEffectiveLevel())) as pool:
            futures = {pool.submit(function, *args): index for index, (function, args) in enumerate(jobs)}
            pending = set(futures)
            while pending:
                # FIRST_COMPLETED, not FIRST_EXCEPTION: the latter returns only once every job has finished when
                # none fails, and each result must be recorded as it comes
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()   # type: ignore[misc]
                    first = len(jobs)
                    for offset, (function, args) in enumerate(finished(futures[future], future.result())):
                        queued = pool.submit(function, *args)
                        futures[queued] = first + offset
                        pending.add(queued)
    return results


def _start_worker(parent: int, log_level: int) -> None:
    # read by torch when a job first imports it (importing torch here would cost every worker seconds)
    os.environ["OMP_NUM_THREADS"] = "1"
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    # a spawned process starts without the caller's logging: the stages' messages go to stderr as they would
    logger = logging.getLogger("probscope")
    logger.setLevel(log_level)
    if log_level <= logging.INFO:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def _exit_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """Stop this worker once its parent is gone (killed with SIGKILL, or by the OOM killer): an orphan would go
    on writing a run that a rerun builds again. Every stage writes atomically, so this is an ordinary kill."""
    while os.getppid() == parent:
        time.sleep(poll_seconds)
    os._exit(1)
