"""`probscope pair-eval`: DPO's implicit reward of a run's checkpoints on held-out preference pairs.

The flags are PairEvalConfig's fields (defaults, help and checks there)."""

from __future__ import annotations

from probscope.cli.commands import command
from probscope.evaluate.pairs import PairEvalConfig


@command("pair-eval", options=[PairEvalConfig],
         help="DPO's reward accuracy and margin of every checkpoint of a run on held-out preference pairs",
         description="Score each checkpoint of RUN on prompt/chosen/rejected pairs it never trained on (e.g. probscope "
                     "sample's pairs.jsonl of the built-in test-id split): DPO's implicit reward beta * (log pi - "
                     "log pi_ref) of each reply, the reward accuracy (share of pairs whose chosen reply gets the "
                     "higher reward) and the mean margin, written to RUN/pair-evals/NAME/step-N.json. Finished "
                     "checkpoints are read back, not recomputed.")
def run_pair_eval(cfg: PairEvalConfig) -> None:
    from probscope.evaluate.pairs import evaluate_run_pairs

    for result in evaluate_run_pairs(cfg):
        print(f"{result['run']} step {result['step']}: reward accuracy {result['reward_accuracy']:.3f}, mean "
              f"margin {result['mean_margin']:+.4f} ({result['n_pairs']} pairs, beta {result['beta']:g})")
