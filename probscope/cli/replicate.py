"""`probscope replicate` (the built-in replication, into results/) and `probscope replicate-continuum` (the
capability-continuum study, into results/continuum/): one config dataclass each, the same flags and switches."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS, add_dataclass_flags, flag_fields


@COMMANDS.register("replicate")
def add_replicate_command(sub) -> None:
    from probscope.replication import ReplicationConfig, replicate, write_results

    _add_study(sub, "replicate", ReplicationConfig, replicate, write_results, "RESULTS.md",
               help="the built-in replication: base, SFT, DFT (+ variants), RFT, offline DFT, DPO, GRPO over several "
                    "seeds, probed and evaluated, into results/",
               description="Train every method for every seed from a gated base on the operand-shift task, probe "
                           "and evaluate them, and write the tables (results/RESULTS.md, CSVs) and figures.")


@COMMANDS.register("replicate-continuum")
def add_continuum_command(sub) -> None:
    from probscope.replication.continuum import ContinuumConfig, run_continuum, write_continuum_results

    _add_study(sub, "replicate-continuum", ContinuumConfig, run_continuum, write_continuum_results, "CONTINUUM.md",
               help="the capability-continuum study: objectives x bases of graded competence",
               description="Pretrain a base per seed, stop it at several points (bases of graded competence), "
                           "fine-tune each with every objective and write the crossover (results/continuum).")


def _add_study(sub, name: str, config_class, run, report, summary: str, *, help: str, description: str) -> None:
    """A study command: its config's fields as flags, --report-only; `run(cfg)` or `report(cfg)` returns the
    results directory, whose `summary` file is named at the end."""
    p = sub.add_parser(name, help=help, description=description + " Resumable: rerun the same command after a "
                                                                  "kill. --report-only rewrites the results from the runs.")
    add_dataclass_flags(p, config_class)
    p.add_argument("--report-only", action="store_true", help="only rewrite the results from the existing runs")

    def study(args) -> None:
        cfg = config_class(**{f.name: getattr(args, f.name) for f in flag_fields(config_class)})
        out = report(cfg) if args.report_only else run(cfg)
        print(f"probscope {name}: {out / summary}")

    p.set_defaults(func=study)
