"""Plan claiming: a resumable stage (probe, evaluation) records what its directory is computed from before it
starts, so that a resume cannot mix other inputs or settings into it.

    started = claim_plan(out / PROBE_PLAN, plan, "probe")   # None: started now; else compare with `plan`
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from probscope.errors import ProbscopeError, first_line
from probscope.runs.atomic import write_text_atomic


def claim_plan(plan_file: str | os.PathLike, plan: dict, stage: str, required: tuple[str, ...] = ()) -> dict | None:
    """A resumable stage's plan (what its directory is being computed from): the plan the directory was started
    with, for the caller to compare with `plan`; None when it had none, and `plan` is written now. A plan file
    that cannot be read, or lacks a `required` key, is a one-line error saying that deleting the directory
    restarts the `stage` (probe, evaluation, ...)."""
    plan_file = Path(plan_file)
    if not plan_file.is_file():
        write_text_atomic(plan_file, json.dumps(plan, indent=2))
        return None
    try:
        started = json.loads(plan_file.read_text())
        if not isinstance(started, dict):
            raise ValueError("not a JSON object")
        missing = [key for key in required if key not in started]
        if missing:
            raise ValueError(f"no {', '.join(missing)}")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ProbscopeError(f"{plan_file}: unreadable {stage} plan ({first_line(e) or type(e).__name__}); "
                             f"delete {plan_file.parent} to restart the {stage}") from None
    return started
