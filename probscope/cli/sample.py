"""`probscope sample`: rejection sampling from a policy, scored by a verifier, into RFT and DPO datasets."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("sample")
def add_sample_command(sub) -> None:
    import dataclasses

    from probscope.data import DataFormat
    from probscope.training.sampling import SampleConfig

    p = sub.add_parser(
        "sample", help="rejection sampling: k completions per prompt, verified, into RFT and DPO datasets",
        description="Sample k completions per prompt from a policy (the base or any checkpoint), score them with "
                    "a verifier and write OUT/accepted.jsonl (prompt-completion: RFT / offline-DFT data), "
                    "OUT/pairs.jsonl (prompt/chosen/rejected: DPO data), with --pass-band LO,HI OUT/frontier.jsonl "
                    "(the rows whose pass rate lies in the band: GRPO / PPO data) and OUT/provenance.json. A rerun "
                    "with the same flags resumes after the finished shards.",
    )
    for f in dataclasses.fields(SampleConfig):
        required = f.default is dataclasses.MISSING
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, required=required,
                       default=None if required else f.default, type=kind, help=f.metadata.get("help"))
    data = p.add_argument_group("data format (the same keys as a training recipe)")
    for f in dataclasses.fields(DataFormat):
        flags = dict.fromkeys((f"--{f.name}", f"--{f.name.replace('_', '-')}"))
        data.add_argument(*flags, dest=f"fmt_{f.name}", default=f.default,
                          type=int if "int" in str(f.type) else str, help=f.metadata.get("help"))
    p.set_defaults(func=_sample)


def _sample(args) -> None:
    import dataclasses

    from probscope.data import DataFormat
    from probscope.training.sampling import SampleConfig, sample

    cfg = SampleConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SampleConfig)})
    fmt = DataFormat(**{f.name: getattr(args, f"fmt_{f.name}") for f in dataclasses.fields(DataFormat)})
    provenance = sample(cfg, fmt)
    frontier = (f", {provenance['n_frontier']} prompts with a pass rate in {cfg.pass_band} (frontier.jsonl)"
                if "n_frontier" in provenance else "")
    print(f"probscope sample: acceptance rate {provenance['acceptance_rate']:.1%} "
          f"({provenance['n_accepted']}/{provenance['n_samples']}), {provenance['n_pairs']} pairs{frontier} "
          f"-> {cfg.out}")
