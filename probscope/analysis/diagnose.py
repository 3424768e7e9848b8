"""A short readable report of what a run left behind at its final probed step, optionally against another run.

    import probscope as ps
    print(ps.diagnose("runs", "dft", against="sft"))
    # probscope diagnose CLI: probscope diagnose dft --against sft --runs runs

    dft (dft, step 10) against sft (sft, step 10): tokens with p < 0.1 at the final step
    end of reply ('<|eos|>'): p < 0.1 in 63% of 40 replies under dft vs 0% of 40 under sft
    roles most left behind under dft: connective 33% (sft 5%), punctuation 28% (sft 3%), special 20% (sft 0%)
    tokens most often left behind under dft: 'So' 21 of 64, "Let's" 20 of 46, ' we get' 16 of 50

A GRPO run whose prompt groups mostly carried no signal (every sample of a prompt got the same reward: mean
frac_reward_zero_std above NO_SIGNAL) gets one more line saying so, and what to do about it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import polars as pl

from probscope import schema
from probscope.analysis.histograms import COUNT
from probscope.analysis.left_behind import (
    DEFAULT_BELOW,
    END_TOKEN,
    OCCURRENCES,
    REPLIES,
    SHARE_BELOW,
    TRUNCATED,
    end_of_reply,
    left_behind,
)
from probscope.analysis.steps import unprobed_last_checkpoints
from probscope.analysis.summary_tables import probe_dirs
from probscope.analysis.tokens import load_tokens
from probscope.checks import check_count, check_probability
from probscope.runs import DEFAULT_PROBE_DATASET, Run

TOP = 3
# Above this mean share of groups with equal rewards, most of an RL run's updates had no advantage to follow.
NO_SIGNAL = 0.5


def diagnose(
    runs_root: str | os.PathLike,
    run: str,
    *,
    against: str | None = None,
    dataset: str = DEFAULT_PROBE_DATASET,
    below: float = DEFAULT_BELOW,
    top: int = TOP,
) -> str:
    """The report's lines (see the module docstring), joined by newlines."""
    return diagnose_pairs(runs_root, [(run, against)], dataset=dataset, below=below, top=top)[0]


def diagnose_pairs(
    runs_root: str | os.PathLike,
    pairs: Sequence[tuple[str, str | None]],
    *,
    dataset: str = DEFAULT_PROBE_DATASET,
    below: float = DEFAULT_BELOW,
    top: int = TOP,
) -> list[str]:
    """diagnose's report of each (run, against) pair, every run read once: a landing page of many runs, each
    against the same SFT run, reads that run once, not once per pair."""
    check_probability("below", below)
    check_count("top", top)
    names = list(dict.fromkeys(name for pair in pairs for name in pair if name))
    facts = Facts.of(load_tokens(runs_root, runs=names, dataset=dataset, lazy=True), below, top)
    signals = {name: no_signal_line(runs_root, name) for name in names}
    reports = []
    for run, against in pairs:
        pair = [run] if against is None or against == run else [run, against]
        lines = facts.lines(*pair)
        lines += [signal for name in pair if (signal := signals[name])]
        reports.append("\n".join(lines + unprobed_last_checkpoints(runs_root, pair, dataset)))
    return reports


@dataclass(frozen=True)
class Facts:
    """What the report says of each run, computed for all runs at once (every table is per run)."""

    below: float
    label: dict[str, str]                        # run -> "run (method, step N)"
    ends: dict[str, dict]                        # run -> its end_of_reply row
    shares: dict[tuple[str, str], float]         # (run, role) -> share of the role's tokens below
    worst_roles: dict[str, list[str]]            # run -> its roles most left behind, worst first
    listing: dict[str, list[tuple[str, int, int]]]   # run -> (token, count below, occurrences), most first

    @classmethod
    def of(cls, tokens: pl.LazyFrame, below: float, top: int) -> Facts:
        by = [schema.RUN]
        dirs = probe_dirs(tokens)   # the series without a pass over the rows when load_tokens knows them
        series = ([(d.run, d.method, d.step) for d in dirs] if dirs else
                  tokens.select(schema.RUN, schema.METHOD, schema.STEP).unique().collect().iter_rows())
        roles, listing = left_behind(tokens, below=below, by=by, top=top)
        return cls(
            below=below,
            label={r: f"{r} ({m}, step {s})" for r, m, s in series},
            ends={row[schema.RUN]: row for row in end_of_reply(tokens, below=below, by=by).iter_rows(named=True)},
            shares={(r, role): share
                    for r, role, share in roles.select(schema.RUN, schema.ROLE, SHARE_BELOW).iter_rows()},
            worst_roles={r: group.head(top)[schema.ROLE].to_list()
                         for (r,), group in roles.group_by(schema.RUN, maintain_order=True)},
            listing={r: list(group.select(schema.TOKEN, COUNT, OCCURRENCES).iter_rows())
                     for (r,), group in listing.group_by(schema.RUN, maintain_order=True)},
        )

    def lines(self, run: str, other: str | None = None) -> list[str]:
        """The report's lines on the probe tables: run's, against other's."""
        below = self.below
        lines = [f"{self.label[run]}{f' against {self.label[other]}' if other else ''}: tokens with p < {below:g} "
                 "at the final step"]
        mine = self.ends[run]
        line = (f"end of reply ({mine[END_TOKEN]!r}): p < {below:g} in {mine[SHARE_BELOW]:.0%} of "
                f"{mine[REPLIES]} replies under {run}"
                + (f" ({mine[TRUNCATED]} cut off before it)" if mine[TRUNCATED] else ""))
        if other:
            line += f" vs {self.ends[other][SHARE_BELOW]:.0%} of {self.ends[other][REPLIES]} under {other}"
        lines.append(line)
        parts = [f"{role} {self.shares[run, role]:.0%}"
                 + (f" ({other} {self.shares.get((other, role), 0):.0%})" if other else "")
                 for role in self.worst_roles.get(run, [])]
        lines.append(f"roles most left behind under {run}: {', '.join(parts) or 'none'}")
        parts = [f"{token!r} {count} of {seen}" for token, count, seen in self.listing.get(run, [])]
        lines.append(f"tokens most often left behind under {run}: {', '.join(parts) or 'none'}")
        return lines


def no_signal_line(runs_root: str | os.PathLike, run: str) -> str | None:
    """A warning when the run's GRPO groups mostly carried no signal (see NO_SIGNAL); None otherwise."""
    from probscope.analysis.dynamics import read_dynamics

    directory = Run.named(runs_root, run).dynamics_dir
    if not directory.is_dir():
        return None
    # GRPO's advantage is the group's: equal rewards give none (PPO's critic still gives one, so PPO is not named)
    dynamics = read_dynamics(directory).filter(pl.col(schema.OBJECTIVE) == "grpo")
    share = dynamics[schema.FRAC_REWARD_ZERO_STD].drop_nulls().cast(pl.Float64)
    mean = cast(float, share.mean())   # a float column's mean (polars types it as any scalar)
    if share.is_empty() or mean <= NO_SIGNAL:
        return None
    return (f"no signal in most groups of {run}: on average {mean:.0%} of its prompt groups had the same "
            f"reward for every sample (frac_reward_zero_std over {share.len()} logged steps), so those updates "
            f"had no advantage to follow; train on prompts at the frontier (probscope sample --pass-band 0.2,0.8) "
            f"or raise num_generations")
