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
    left_behind_by_role,
    left_behind_tokens,
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
    check_probability("below", below)
    check_count("top", top)
    names = [run] if against is None or against == run else [run, against]
    tokens = load_tokens(runs_root, runs=names, dataset=dataset, lazy=True)
    by = [schema.RUN]
    dirs = probe_dirs(tokens)   # the series without a pass over the rows when load_tokens knows them
    facts = ([(d.run, d.method, d.step) for d in dirs] if dirs else
             tokens.select(schema.RUN, schema.METHOD, schema.STEP).unique().collect().iter_rows())
    label = {r: f"{r} ({m}, step {s})" for r, m, s in facts}
    other = names[1] if len(names) > 1 else None

    lines = [f"{label[run]}{f' against {label[other]}' if other else ''}: tokens with p < {below:g} at the final step"]
    ends = {row[schema.RUN]: row for row in end_of_reply(tokens, below=below, by=by).iter_rows(named=True)}
    mine = ends[run]
    line = (f"end of reply ({mine[END_TOKEN]!r}): p < {below:g} in {mine[SHARE_BELOW]:.0%} of "
            f"{mine[REPLIES]} replies under {run}"
            + (f" ({mine[TRUNCATED]} cut off before it)" if mine[TRUNCATED] else ""))
    if other:
        line += f" vs {ends[other][SHARE_BELOW]:.0%} of {ends[other][REPLIES]} under {other}"
    lines.append(line)

    roles = left_behind_by_role(tokens, below=below, by=by)
    shares = {(r, role): share for r, role, share in roles.select(schema.RUN, schema.ROLE, SHARE_BELOW).iter_rows()}
    worst = roles.filter(pl.col(schema.RUN) == run).head(top)[schema.ROLE].to_list()
    parts = [f"{role} {shares[run, role]:.0%}" + (f" ({other} {shares.get((other, role), 0):.0%})" if other else "")
             for role in worst]
    lines.append(f"roles most left behind under {run}: {', '.join(parts) or 'none'}")

    listing = left_behind_tokens(tokens, below=below, by=by, top=top).filter(pl.col(schema.RUN) == run)
    parts = [f"{token!r} {count} of {seen}"
             for token, count, seen in listing.select(schema.TOKEN, COUNT, OCCURRENCES).iter_rows()]
    lines.append(f"tokens most often left behind under {run}: {', '.join(parts) or 'none'}")
    lines += [signal for name in names if (signal := no_signal_line(runs_root, name))]
    return "\n".join(lines + unprobed_last_checkpoints(runs_root, names, dataset))


def no_signal_line(runs_root: str | os.PathLike, run: str) -> str | None:
    """A warning when the run's GRPO groups mostly carried no signal (see NO_SIGNAL); None otherwise."""
    from probscope.analysis.dynamics import read_dynamics

    directory = Run.in_root(runs_root, run).dynamics_dir
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
