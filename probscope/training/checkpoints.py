"""Checkpoint schedules and atomic checkpoint writing; the trainer state kept for resuming a killed run.

    checkpoint_schedule("log", 400)    # [0, 1, 2, 5, 10, 20, 50, 100, 200, 400]
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from probscope.errors import ProbscopeError
from probscope.runs import Run


# ---- checkpoint schedules -----------------------------------------------------------------------------
def checkpoint_schedule(spec: str, max_steps: int) -> list[int]:
    """Steps to save, ascending, always including the final step. 'log' = 0, 1, 2, 5, 10, 20, 50, ..."""
    spec = spec.strip()
    if spec == "final":
        steps = set()
    elif spec == "log":
        steps = {m * 10**e for e in range(int(math.log10(max(max_steps, 1))) + 1) for m in (1, 2, 5)} | {0}
    elif spec.startswith("every:"):
        try:
            every = int(spec.split(":", 1)[1])
        except ValueError:
            raise ProbscopeError(f"checkpoints: '{spec}' is not every:N with an integer N") from None
        if every < 1:
            raise ProbscopeError(f"checkpoints: '{spec}': N must be a positive number of steps")
        steps = set(range(0, max_steps + 1, every))
    else:   # "0,10,25", or a list written as one ("[0, 10, 25]": a YAML list or a Python list override)
        try:
            steps = {int(s) for s in spec.strip("[]").split(",") if s.strip()}
        except ValueError:
            raise ProbscopeError(f"checkpoints: '{spec}' is not log, every:N, final or a list of steps") from None
        if any(step < 0 for step in steps):
            raise ProbscopeError(f"checkpoints: '{spec}': steps cannot be negative")
    # steps past max_steps are dropped: a recipe's schedule still serves a shortened run (--max_steps 100)
    return sorted(s for s in steps | {max_steps} if 0 <= s <= max_steps)


def save_checkpoint(model, tokenizer, run: Run, step: int) -> Path:
    """save_pretrained into a temporary directory, then rename: a killed run never leaves half a checkpoint."""
    final = run.checkpoint(step)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def checkpoint_callback(run: Run, steps: list[int], tokenizer, resume_every: int, max_steps: int):
    from transformers import TrainerCallback

    class ScheduledCheckpoints(TrainerCallback):
        """At the scheduled optimizer steps our HF checkpoint (main process); every `resume_every` steps
        (never at the end) the trainer's own state in <run>/trainer/ (newest only), so that a killed run
        resumes there."""

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if step in steps and state.is_world_process_zero:
                save_checkpoint(model, tokenizer, run, step)
            if resume_every and step % resume_every == 0 and step < max_steps:
                control.should_save = True

    return ScheduledCheckpoints()


def resumable_state(run: Run) -> Path | None:
    """The newest complete trainer state of an unfinished run (trainer_state.json is written last)."""
    states = [p for p in run.trainer_state_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(states, key=lambda p: int(p.name.split("-")[1]), default=None)
