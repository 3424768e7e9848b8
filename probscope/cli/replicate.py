"""`probscope replicate` (the built-in replication, into results/) and `probscope replicate-continuum` (the
capability-continuum study, into results/continuum/): one config dataclass each, the same flags and switches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probscope.cli.commands import command
from probscope.replication import ReplicationConfig
from probscope.replication.continuum import ContinuumConfig

RESUMABLE = " Resumable: rerun the same command after a kill. --report-only rewrites the results from the runs."


@dataclass
class StudyMode:
    report_only: bool = field(default=False, metadata={"help": "only rewrite the results from the existing runs"})


@command("replicate", options=[ReplicationConfig, StudyMode],
         help="the built-in replication: base, SFT, DFT (+ variants), RFT, offline DFT, DPO, GRPO over several "
              "seeds, probed and evaluated, into results/",
         description="Train every method for every seed from a gated base on the operand-shift task, probe "
                     "and evaluate them, and write the tables (results/RESULTS.md, CSVs) and figures." + RESUMABLE)
def run_replicate(cfg: ReplicationConfig, mode: StudyMode) -> None:
    from probscope.replication import replicate, write_results

    _study("replicate", cfg, mode, replicate, write_results, "RESULTS.md")


@command("replicate-continuum", options=[ContinuumConfig, StudyMode],
         help="the capability-continuum study: objectives x bases of graded competence",
         description="Pretrain a base per seed, stop it at several points (bases of graded competence), "
                     "fine-tune each with every objective and write the crossover (results/continuum)." + RESUMABLE)
def run_continuum_command(cfg: ContinuumConfig, mode: StudyMode) -> None:
    from probscope.replication.continuum import run_continuum, write_continuum_results

    _study("replicate-continuum", cfg, mode, run_continuum, write_continuum_results, "CONTINUUM.md")


def _study(name: str, cfg: Any, mode: StudyMode, run: Callable[[Any], Path], report: Callable[[Any], Path],
           summary: str) -> None:
    """`run(cfg)` or `report(cfg)` returns the results directory, whose `summary` file is named at the end."""
    out = report(cfg) if mode.report_only else run(cfg)
    print(f"probscope {name}: {out / summary}")
