"""probscope.devices: device and dtype resolution, launcher environment, process group outside a launch.

    .venv/bin/pytest tests/test_devices.py
"""

import pytest
import torch

from probscope import devices
from probscope.errors import ProbscopeError


def test_an_explicit_device_is_taken_as_is(monkeypatch):
    assert devices.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices.resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert devices.resolve_device("cuda") == torch.device("cuda")


@pytest.mark.bad_input
def test_a_device_this_machine_lacks_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device in ("cuda", "cuda:0", "mps"):
        with pytest.raises(ProbscopeError, match=f"device='{device}': .*(CUDA|MPS).*; use cpu \\(or auto\\)$"):
            devices.resolve_device(device)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ProbscopeError, match=r"device='cuda:2': this machine has 2 CUDA GPU\(s\), cuda:0 to cuda:1$"):
        devices.resolve_device("cuda:2")


def test_a_bad_device_is_a_one_line_error():
    with pytest.raises(ProbscopeError, match=r"device='gpu0': use auto, cpu, cuda, cuda:N or mps"):
        devices.resolve_device("gpu0")


def test_auto_picks_the_local_ranks_gpu_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert devices.resolve_device("auto") == torch.device("cuda", 1)   # 3 ranks on 2 GPUs: wraps around
    monkeypatch.delenv("LOCAL_RANK")
    assert devices.resolve_device() == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.resolve_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.resolve_device() == torch.device("cpu")


def test_parse_dtype():
    assert devices.parse_dtype("bfloat16") is torch.bfloat16
    assert devices.parse_dtype(torch.float16) is torch.float16
    assert devices.parse_dtype(None) is None
    for bad in ("bf17", "cuda"):   # "cuda" is a torch attribute but not a dtype
        with pytest.raises(ProbscopeError, match=f"dtype='{bad}': use float32, bfloat16 or float16"):
            devices.parse_dtype(bad)


def test_launcher_environment(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (devices.world_size(), devices.rank(), devices.local_rank()) == (1, 0, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert (devices.world_size(), devices.rank(), devices.local_rank()) == (4, 3, 1)


def test_alone_there_is_no_process_group_and_barrier_returns(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with devices.process_group() as (rank, world):
        assert (rank, world) == (0, 1)
        assert not torch.distributed.is_initialized()
        devices.barrier()
    devices.empty_cache()   # a no-op without an accelerator, and never an error


def test_cpu_threads_gives_a_small_model_one_thread_and_restores_the_setting():
    import torch
    from helpers import tiny_llama

    from probscope.devices import cpu_threads

    before = torch.get_num_threads()
    model = tiny_llama()
    with cpu_threads(model) as inside:
        assert inside == torch.get_num_threads() == 1
    with cpu_threads(model, threads=3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before
