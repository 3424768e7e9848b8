"""Shared test setup: never touch the network; find the optional real files in ../shared/real."""

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2`: one test process per core, so each computes on one thread (two 2-thread processes on two
    # cores crawl: tiny models measured 10-20x slower with a core oversubscribed)
    os.environ["OMP_NUM_THREADS"] = "1"

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "real"


@pytest.fixture
def real_dir() -> Path:
    """../shared/real, or skip: a user's fresh clone has no ../shared."""
    if not REAL.is_dir():
        pytest.skip(f"{REAL} not present")
    return REAL


@pytest.fixture(autouse=True)
def cpu_fp32(monkeypatch):
    """Every test trains and runs on the CPU in float32 (the recipe parser already defaults bf16 to the
    machine; TRL configs built directly by a test see ACCELERATE_USE_CPU)."""
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")


@pytest.fixture(autouse=True)
def real_main_module():
    """Streamlit's AppTest installs the app script as sys.modules["__main__"] and leaves it there; a worker that
    probscope.parallel spawns afterwards would run the dashboard script as its main and die. Put the real one
    back after each test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    """The synthetic runs of helpers.build_fixture_runs (base, sft, dft; no model needed), one copy per module
    so that a test module may write into it. Modules that need other runs define their own `runs_root`."""
    from helpers import build_fixture_runs

    return build_fixture_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A small word-level tokenizer with pad/eos (probscope.testing.word_tokenizer)."""
    from probscope.testing import word_tokenizer

    return word_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def llama(tokenizer):
    """A factory of the trainer tests' tiny Llama on `tokenizer`: each call a fresh model, the same weights
    for the same seed (so a test can rebuild the initial model as an independent reference)."""
    from helpers import TRAINER_SHAPE, TRAINER_VOCAB

    from probscope.testing import tiny_llama

    return lambda seed=0: tiny_llama(tokenizer, TRAINER_VOCAB, seed, **TRAINER_SHAPE)


@pytest.fixture
def sft_dataset():
    """A factory of random pre-tokenized SFT datasets over the trainer tests' vocabulary:
    sft_dataset(n, lengths, prompts, seed=0) (probscope.testing.random_sft_dataset)."""
    from helpers import TRAINER_VOCAB

    from probscope.testing import random_sft_dataset

    return lambda n, lengths, prompts, seed=0: random_sft_dataset(n, TRAINER_VOCAB, lengths, prompts, seed)


@pytest.fixture
def one_thread():
    """torch on one thread for the test: tiny models run fastest so, two OpenMP threads crawl on a loaded
    machine, and a killed or torchrun subprocess computes on one thread too (same arithmetic)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
