"""Where torch work runs: the device, the dtype, the process group of a multi-process launch, the cache.

    from probscope import devices
    device = devices.resolve_device("auto")          # cuda:<LOCAL_RANK>, else mps, else cpu
    dtype = devices.parse_dtype("bfloat16")          # torch.bfloat16 (None stays None: "as saved")
    with devices.process_group() as (rank, world):   # torchrun / accelerate launch, or (0, 1) alone
        ...                                          # rank r does its share
        devices.barrier()                            # every rank waits here for the others
    devices.empty_cache()                            # after an out-of-memory error, before retrying smaller
    with devices.cpu_threads(model):                 # 1 torch thread for a small model on the CPU
        ...

Launchers (torchrun, accelerate launch) describe the processes in environment variables: WORLD_SIZE,
RANK and LOCAL_RANK (the process's index on its machine, hence its GPU). rank(), world_size() and
local_rank() read them, so code that only needs to know "am I rank 0" does not start a process group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from probscope.errors import ProbscopeError

if TYPE_CHECKING:
    import torch


def world_size() -> int:
    """Processes in this launch (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's index among all processes (0 without a launcher)."""
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's index on its machine: the GPU it uses (0 without a launcher)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`device` as a torch.device; "auto" is this process's GPU (cuda:<local rank>), else mps, else cpu.
    A device this machine lacks (cuda without a GPU, cuda:3 of two) is a one-line error."""
    import torch

    if str(device) != "auto":
        try:
            return _available(torch.device(device))
        except RuntimeError:
            raise ProbscopeError(f"device={str(device)!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank() % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available(device: torch.device) -> torch.device:
    """`device` if this machine has it, else a one-line error (torch would fail later, mid-work, with a traceback)."""
    import torch

    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ProbscopeError(f"device={str(device)!r}: {why}; use cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ProbscopeError(f"device={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                                 f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                     and torch.backends.mps.is_available()):
        raise ProbscopeError(f"device={str(device)!r}: Apple's MPS is not available here; use cpu (or auto)")
    return device


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """A torch dtype from its name ("bfloat16", "float32", ...); a dtype as is; None as None."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ProbscopeError(f"dtype={dtype!r}: use float32, bfloat16 or float16")
    return resolved


@contextmanager
def process_group(backend: str = "gloo") -> Iterator[tuple[int, int]]:
    """(rank, world size) of this launch, with a torch.distributed group for barrier() when WORLD_SIZE > 1.

    A group the launcher (accelerate) already made is used and left alone; one made here is destroyed on
    exit. The default gloo backend runs on every device and suffices for barriers and small objects
    (nccl would refuse two ranks sharing one GPU); pass "nccl" for collectives over GPU tensors.
    """
    if world_size() <= 1:
        yield 0, 1
        return
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend=backend)
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        if created:
            dist.destroy_process_group()


def exit_launched_process(code: int = 0) -> None:
    """End a process of a multi-process launch now, without the interpreter's teardown.

    At exit, gloo's process group (accelerate makes one for the trainer) is torn down by destructors that
    either abort ("terminate called without an active exception", SIGABRT) or wait for a peer that has
    already gone; either fails the launch although every step finished (measured: about 1 launch in 5 on 2
    loaded cores). Destroying the group first moved the hang into the trainer's own teardown, so the
    process leaves here, streams flushed. Alone (no launcher) this does nothing.
    """
    import logging
    import sys

    if world_size() <= 1:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def barrier() -> None:
    """Wait until every process of the group reaches this point (nothing to wait for when alone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def empty_cache() -> None:
    """Hand the accelerator's cached free memory back (after an out-of-memory error, before retrying)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()


# Below this many parameters a model's matrix products are too small to split across CPU threads: with two
# threads on two cores that other processes also use, the threads mostly wait for each other (measured
# 10-20x slower for the demo's 0.6M-parameter model, generation and training alike).
SMALL_MODEL_PARAMETERS = 50_000_000


@contextmanager
def cpu_threads(model, threads: int | None = None) -> Iterator[int]:
    """torch's CPU threads set to `threads` inside the block (restored after); None: 1 for a model under
    SMALL_MODEL_PARAMETERS on the CPU, else unchanged. Yields the number in force."""
    import torch

    previous = torch.get_num_threads()
    if threads is None and model.device.type == "cpu" and model.num_parameters() < SMALL_MODEL_PARAMETERS:
        threads = 1
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
