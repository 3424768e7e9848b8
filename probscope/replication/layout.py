"""The one place for what a study keeps beside its runs (under the runs root) and how it is read back: the gate
record, the seconds per stage, and where each base's rejection samples are. The pipelines write these files;
the reports only read them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.runs import write_text_atomic

GATE_FILE = "gate.json"          # seed -> every base tried for it: run, steps, accuracies, passed
TIMINGS_FILE = "timings.json"    # stage -> seconds, summed over resumed invocations


def samples_dir(root: Path, base_name: str) -> Path:
    """Where the rejection samples of a base go (RFT's and offline DFT's accepted replies, DPO's pairs)."""
    return root / "data" / "samples" / base_name


def heldout_samples_dir(root: Path, base_name: str) -> Path:
    """Where a base's rejection samples of the in-distribution test prompts go: DPO's held-out pairs (prompts
    no run trained on)."""
    return samples_dir(root, base_name) / "test-id"


def read_gate(root: Path) -> dict[str, list[dict]]:
    """The gate record under `root` (empty when no base was tried yet)."""
    gate = _read_json(root / GATE_FILE)
    return gate if isinstance(gate, dict) else {}


def write_gate(root: Path, gate: dict[str, list[dict]]) -> None:
    write_text_atomic(root / GATE_FILE, json.dumps(gate, indent=2))


def read_timings(root: Path) -> dict[str, float]:
    timings = _read_json(root / TIMINGS_FILE)
    return timings if isinstance(timings, dict) else {}


def _read_json(path: Path) -> object:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProbscopeError(f"{path}: unreadable ({e}); delete it (it is rebuilt from the runs)") from None


class StageTimings:
    """Seconds spent per stage, added across resumed invocations, in TIMINGS_FILE beside the runs (`root` None:
    kept in memory only, as in a worker process whose seconds the pipeline adds to the file)."""

    def __init__(self, root: Path | None):
        self.path = None if root is None else root / TIMINGS_FILE
        self.seconds: dict[str, float] = {} if root is None else read_timings(root)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.time()
        try:
            yield
        finally:
            self.add({stage: time.time() - start})

    def add(self, seconds: dict[str, float]) -> None:
        """Add `seconds` (stage -> seconds) to the totals."""
        for stage, spent in seconds.items():
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + spent, 1)
        if self.path is not None:
            write_text_atomic(self.path, json.dumps(self.seconds, indent=2))
