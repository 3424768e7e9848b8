"""`probscope replicate`: the built-in replication (every method x seed), written to results/."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS, add_dataclass_flags, flag_fields


@COMMANDS.register("replicate")
def add_replicate_command(sub) -> None:
    from probscope.replication.config import ReplicationConfig

    p = sub.add_parser(
        "replicate", help="the built-in replication: base, SFT, DFT (+ variants), RFT, offline DFT, DPO, GRPO over "
                          "several seeds, probed and evaluated, into results/",
        description="Train every method for every seed from a gated base on the operand-shift task, probe and "
                    "evaluate them, and write the tables (results/RESULTS.md, CSVs) and figures. Resumable: "
                    "rerun the same command after a kill. --report-only rewrites results/ from the runs.",
    )
    add_dataclass_flags(p, ReplicationConfig)
    p.add_argument("--report-only", action="store_true", help="only rewrite the results from the existing runs")
    p.set_defaults(func=_replicate)


def _replicate(args) -> None:
    from probscope.replication.config import ReplicationConfig
    from probscope.replication.pipeline import replicate
    from probscope.replication.report import write_results

    cfg = ReplicationConfig(**{f.name: getattr(args, f.name) for f in flag_fields(ReplicationConfig)})
    out = write_results(cfg) if args.report_only else replicate(cfg)
    print(f"probscope replicate: {out / 'RESULTS.md'}")


@COMMANDS.register("replicate-continuum")
def add_continuum_command(sub) -> None:
    from probscope.replication.continuum import ContinuumConfig

    p = sub.add_parser(
        "replicate-continuum", help="the capability-continuum study: objectives x bases of graded competence",
        description="Pretrain a base per seed, stop it at several points (bases of graded competence), fine-tune "
                    "each with every objective and write the crossover (results/continuum). Resumable.",
    )
    add_dataclass_flags(p, ContinuumConfig)
    p.add_argument("--report-only", action="store_true", help="only rewrite the results from the existing runs")
    p.set_defaults(func=_continuum)


def _continuum(args) -> None:
    from probscope.replication.continuum import ContinuumConfig, run_continuum, write_continuum_results

    cfg = ContinuumConfig(**{f.name: getattr(args, f.name) for f in flag_fields(ContinuumConfig)})
    out = write_continuum_results(cfg) if args.report_only else run_continuum(cfg)
    print(f"probscope replicate-continuum: {out / 'CONTINUUM.md'}")
