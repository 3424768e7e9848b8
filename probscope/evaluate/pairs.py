"""DPO's implicit reward on held-out preference pairs: does a policy prefer the chosen reply over the rejected
one by more than its reference does, on prompts it never trained on?

    probscope sample --policy runs/base/checkpoints/step-000800 --data runs/data/builtin/test-id.jsonl \\
        --reward builtin-reasoning --k 4 --out runs/data/samples/base-test-id
    probscope pair-eval --run runs/dpo --pairs runs/data/samples/base-test-id/pairs.jsonl
        -> runs/dpo/pair-evals/heldout-pairs/step-000100.json (one file per checkpoint)

DPO's reward of a reply y to a prompt x is r(y) = beta * (log pi(y|x) - log pi_ref(y|x)), the log-probabilities
summed over the reply's tokens; on a pair (chosen c, rejected r) the margin is r(c) - r(r), and the reward
accuracy the share of pairs whose margin is positive: what TRL logs as rewards/margins and rewards/accuracies
on the pairs it trains on, here on pairs it has not seen. The replies are tokenized as TRL's DPOTrainer does
(the chat template over the prompt with the generation prompt, and over prompt + reply; the reply starts
where the two diverge), and the pairs it would drop (an empty chosen reply, chosen = rejected) are dropped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probscope.checks import check_count, check_number
from probscope.errors import ProbscopeError
from probscope.runs import Run, code_version, write_text_atomic

logger = logging.getLogger(__name__)

DEFAULT_NAME = "heldout-pairs"


@dataclass
class PairEvalConfig:
    run: str = field(metadata={"help": "run directory whose checkpoints are scored (e.g. runs/dpo)"})
    pairs: str = field(metadata={"help": "prompt / chosen / rejected rows the run never trained on (probscope "
                                         "sample's pairs.jsonl of held-out prompts)"})
    name: str = field(default=DEFAULT_NAME, metadata={
        "help": "the evaluation's name: results go to RUN/pair-evals/NAME/step-N.json"})
    reference: str | None = field(default=None, metadata={
        "help": "reference model (default: the run's starting model, its manifest's base_model)"})
    beta: float | None = field(default=None, metadata={
        "help": "DPO's beta (default: the run's own, from its manifest)"})
    steps: str | None = field(default=None, metadata={
        "help": "comma-separated checkpoint steps (default: every checkpoint)"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N pairs"})
    batch_size: int = field(default=16, metadata={
        "help": "sequences per forward pass (its logits are batch x length x vocabulary: lower it for a large model)"})

    def __post_init__(self) -> None:
        check_count("limit", self.limit, optional=True)
        check_count("batch_size", self.batch_size)
        if self.beta is not None:
            check_number("beta", self.beta, low=0.0, low_open=True)
        Run(Path(self.run)).read_manifest()      # a one-line error when RUN is not a run
        if not Path(self.pairs).is_file():
            raise ProbscopeError(f"pairs: {self.pairs} does not exist (write held-out pairs with probscope sample)")


def pair_reward_accuracy(policy_checkpoint: str | os.PathLike, reference_checkpoint: str | os.PathLike,
                         pairs_jsonl: str | os.PathLike, beta: float, *, limit: int | None = None,
                         batch_size: int = 16) -> dict[str, Any]:
    """DPO's implicit reward of `policy_checkpoint` against `reference_checkpoint` on the pairs of `pairs_jsonl`:
    {"reward_accuracy", "mean_margin", "mean_chosen_reward", "mean_rejected_reward", "n_pairs", "beta", and the
    three inputs}."""
    from probscope.data import DataFormat
    from probscope.models import load_causal_lm, load_tokenizer
    from probscope.training.rl import preference_dataset

    check_number("beta", beta, low=0.0, low_open=True)
    check_count("batch_size", batch_size)
    rows = preference_dataset(str(pairs_jsonl), DataFormat(), limit)
    tokenizer = load_tokenizer(policy_checkpoint)
    sequences = [seq for row in rows for seq in pair_sequences(tokenizer, row)]   # chosen, rejected, chosen, ...
    logps = {}
    for role, checkpoint in (("policy", policy_checkpoint), ("reference", reference_checkpoint)):
        model = load_causal_lm(checkpoint).eval()
        if model.config.vocab_size < len(tokenizer):
            raise ProbscopeError(f"{checkpoint}: vocabulary of {model.config.vocab_size} tokens, but the policy's "
                                 f"tokenizer has {len(tokenizer)}: not a {role} of this policy")
        logps[role] = reply_logprobs(model, sequences, tokenizer.pad_token_id, batch_size, desc=f"{role} log-probs")
    rewards = beta * (logps["policy"] - logps["reference"])
    chosen, rejected = rewards[0::2], rewards[1::2]
    margins = chosen - rejected
    return {"reward_accuracy": (margins > 0).double().mean().item(), "mean_margin": margins.mean().item(),
            "mean_chosen_reward": chosen.mean().item(), "mean_rejected_reward": rejected.mean().item(),
            "n_pairs": len(rows), "beta": beta, "policy": str(policy_checkpoint),
            "reference": str(reference_checkpoint), "pairs": str(pairs_jsonl)}


def pair_sequences(tokenizer, row: dict) -> list[tuple[list[int], int]]:
    """(prompt + chosen ids, reply start), (prompt + rejected ids, reply start) of one conversational pair row,
    tokenized as TRL's DPOTrainer does."""
    def ids(messages: list[dict], **kwargs: Any) -> list[int]:
        return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])

    prompt = ids(row["prompt"], add_generation_prompt=True)
    full = [ids(row["prompt"] + row[reply]) for reply in ("chosen", "rejected")]
    start = min(_common_prefix(prompt, sequence) for sequence in full)
    return [(sequence, start) for sequence in full]


def reply_logprobs(model, sequences: list[tuple[list[int], int]], pad_id: int, batch_size: int,
                   desc: str = "log-probs"):
    """log p(reply | prompt) of each (ids, reply start): the log-probabilities of the tokens from the reply
    start on, summed (float64), in batches of right-padded sequences."""
    import torch
    from tqdm.auto import tqdm

    sums = []
    with torch.no_grad():
        for lo in tqdm(range(0, len(sequences), batch_size), desc=desc, unit="batch"):
            batch = sequences[lo:lo + batch_size]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention = torch.zeros_like(ids)
            reply = torch.zeros((len(batch), width), dtype=torch.bool)
            for row, (sequence, start) in enumerate(batch):
                ids[row, :len(sequence)], attention[row, :len(sequence)] = torch.tensor(sequence), 1
                reply[row, start:len(sequence)] = True
            logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
            for row in range(len(batch)):   # float64 one sequence at a time: a [T, V] copy, not [B, T, V]
                row_logits = logits[row].double()
                token_logps = row_logits.gather(-1, ids[row, 1:, None])[:, 0] - row_logits.logsumexp(-1)
                sums.append((token_logps * reply[row, 1:]).sum()[None])
    return torch.cat(sums) if sums else torch.zeros(0, dtype=torch.float64)


def evaluate_run_pairs(cfg: PairEvalConfig) -> list[dict[str, Any]]:
    """pair_reward_accuracy of each chosen checkpoint of `cfg.run`, each written (atomically) to
    RUN/pair-evals/NAME/step-N.json; a checkpoint whose file exists with the same pairs, reference and beta is
    read back, not recomputed."""
    run = Run(Path(cfg.run))
    manifest = run.read_manifest()
    reference = cfg.reference or manifest.base_model
    if reference is None:
        raise ProbscopeError(f"{run.root}: the run was trained from scratch (no base_model in its manifest); "
                             "name the reference with --reference")
    beta = cfg.beta if cfg.beta is not None else manifest.config.get("trainer", {}).get("beta")
    if beta is None:
        raise ProbscopeError(f"{run.manifest_path}: no beta in the run's trainer config (not a DPO run?); "
                             "give --beta")
    steps = _chosen_steps(run, cfg.steps)
    results = []
    for step in steps:
        path = run.pair_eval_file(step, cfg.name)
        settings = {"pairs": str(cfg.pairs), "reference": str(reference), "beta": beta, "limit": cfg.limit}
        if path.is_file():
            before = json.loads(path.read_text())
            if {key: before.get(key) for key in settings} == settings:
                results.append(before)
                continue
        start = time.time()
        result = pair_reward_accuracy(run.checkpoint(step), reference, cfg.pairs, beta, limit=cfg.limit,
                                      batch_size=cfg.batch_size)
        result |= {"run": run.name, "step": step, "limit": cfg.limit, "reference": str(reference),
                   "seconds": round(time.time() - start, 3), "code_version": code_version()}
        write_text_atomic(path, json.dumps(result, indent=2))
        logger.info(f"{run.name} step {step}: reward accuracy {result['reward_accuracy']:.3f}, mean margin "
                    f"{result['mean_margin']:+.4f} over {result['n_pairs']} held-out pairs -> {path}")
        results.append(result)
    return results


def _chosen_steps(run: Run, steps: str | None) -> list[int]:
    saved = run.checkpoint_steps()
    if not saved:
        raise ProbscopeError(f"{run.root}: no finished checkpoint to score")
    if steps is None:
        return saved
    try:
        chosen = [int(step) for step in steps.split(",")]
    except ValueError:
        raise ProbscopeError(f"steps: {steps!r} is not a comma-separated list of integers") from None
    missing = sorted(set(chosen) - set(saved))
    if missing:
        raise ProbscopeError(f"{run.root}: no checkpoint at step(s) {', '.join(map(str, missing))} "
                             f"(saved: {', '.join(map(str, saved))})")
    return chosen


def _common_prefix(ids: list[int], other: list[int]) -> int:
    length = 0
    for a, b in zip(ids, other, strict=False):
        if a != b:
            break
        length += 1
    return length
