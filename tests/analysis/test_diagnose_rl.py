"""probscope diagnose names a GRPO run whose prompt groups mostly carried no signal (frac_reward_zero_std)."""

import polars as pl
from helpers import build_fixture_runs, dynamics_rows

import probscope as ps
from probscope import schema
from probscope.analysis.dynamics import read_dynamics
from probscope.runs import Run, write_parquet_atomic
from probscope.training.callbacks import write_dynamics_part


def rl_rows(shares: list[float], trainer: str = "grpo") -> list[dict]:
    return [{schema.STEP: step, schema.OBJECTIVE: trainer, schema.N_TOKENS: 10, schema.FRAC_REWARD_ZERO_STD: share}
            for step, share in enumerate(shares, 1)]


def test_diagnose_mentions_a_run_whose_groups_carry_no_signal_and_only_that_one(runs_root):
    write_dynamics_part(Run(runs_root / "dft").dynamics_dir, rl_rows([0.75, 0.5, 1.0]))     # mean 0.75
    write_dynamics_part(Run(runs_root / "sft").dynamics_dir, rl_rows([0.5, 0.25, 0.75]))    # mean 0.5: has signal
    lines = ps.diagnose(runs_root, "dft", against="sft").splitlines()
    assert lines[-1].startswith("no signal in most groups of dft: on average 75% of its prompt groups had the same "
                                "reward for every sample (frac_reward_zero_std over 3 logged steps)")
    assert "--pass-band" in lines[-1] and len(lines) == 5
    assert "no signal" not in ps.diagnose(runs_root, "sft")
    assert "no signal" not in ps.diagnose(runs_root, "base")        # no dynamics at all
    write_dynamics_part(Run(runs_root / "base").dynamics_dir, rl_rows([1.0, 1.0], trainer="ppo"))
    assert "no signal" not in ps.diagnose(runs_root, "base")        # PPO's critic gives advantages anyway


def test_dynamics_parts_written_before_a_column_existed_read_it_as_nulls(tmp_path):
    """Runs trained before frac_reward_zero_std was logged: their Findings failed (ColumnNotFoundError) on every
    rerun of the Overview (a failed call is never cached)."""
    runs_root = build_fixture_runs(tmp_path)
    run = Run(runs_root / "dft")
    older = pl.DataFrame(dynamics_rows(0.5), schema=schema.dynamics_schema()).drop(schema.FRAC_REWARD_ZERO_STD)
    write_parquet_atomic(older, run.dynamics_dir / run.dynamics_part_name(1, 4))
    table = read_dynamics(run.dynamics_dir)
    assert table.schema == schema.dynamics_schema()
    assert table[schema.FRAC_REWARD_ZERO_STD].null_count() == table.height == len(dynamics_rows(0.5))
    assert "no signal" not in ps.diagnose(runs_root, "dft", against="sft")
