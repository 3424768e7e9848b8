"""Shared test setup: never touch the network; find the optional real files in ../shared/real."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "real"


@pytest.fixture
def real_dir() -> Path:
    """../shared/real, or skip: a user's fresh clone has no ../shared."""
    if not REAL.is_dir():
        pytest.skip(f"{REAL} not present")
    return REAL
