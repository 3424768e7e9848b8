"""`probscope sample`: rejection sampling from a policy, scored by a verifier, into RFT and DPO datasets.

The flags are SampleConfig's fields and DataFormat's (defaults, help and checks there)."""

from __future__ import annotations

from probscope.cli.commands import Flags, command
from probscope.data import DataFormat
from probscope.training.sampling import SampleConfig


@command("sample", options=[SampleConfig, Flags(DataFormat, "data format (the same keys as a training recipe)")],
         help="rejection sampling: k completions per prompt, verified, into RFT and DPO datasets",
         description="Sample k completions per prompt from a policy (the base or any checkpoint), score them with "
                     "a verifier and write OUT/accepted.jsonl (prompt-completion: RFT / offline-DFT data), "
                     "OUT/pairs.jsonl (prompt/chosen/rejected: DPO data), with --pass-band LO,HI OUT/frontier.jsonl "
                     "(the rows whose pass rate lies in the band: GRPO / PPO data) and OUT/provenance.json. A rerun "
                     "with the same flags resumes after the finished shards.")
def run_sample(cfg: SampleConfig, fmt: DataFormat) -> None:
    from probscope.training.sampling import sample

    provenance = sample(cfg, fmt)
    frontier = (f", {provenance['n_frontier']} prompts with a pass rate in {cfg.pass_band} (frontier.jsonl)"
                if "n_frontier" in provenance else "")
    print(f"probscope sample: acceptance rate {provenance['acceptance_rate']:.1%} "
          f"({provenance['n_accepted']}/{provenance['n_samples']}), {provenance['n_pairs']} pairs{frontier} "
          f"-> {cfg.out}")
