"""Rejection sampling: k completions per prompt from a policy, scored by a verifier, kept as training data.

    probscope sample --policy runs/sft/checkpoints/step-000400 --data runs/data/builtin/train.jsonl \\
        --reward builtin-reasoning --k 4 --temperature 1.0 --out runs/data/samples/sft

    OUT/
      settings.json               what the samples depend on (a resume must use the same)
      shards/shard-00000.jsonl    every sample of a block of prompts with its reward (the unit of resuming)
      accepted.jsonl              prompt, completion, answer: the accepted samples (RFT / offline-DFT data)
      pairs.jsonl                 prompt, chosen, rejected: an accepted and a rejected sample of one prompt (DPO)
      frontier.jsonl              with --pass-band LO,HI: the data's rows whose pass rate (accepted / k) lies in
                                  [LO, HI], each with its `pass_rate`: prompts at the competence frontier (GRPO/PPO)
      provenance.json             policy, data, reward, k, temperature, seed, counts, acceptance rate (written last)

A killed job reruns with the same flags and continues after its finished shards (each shard's samples
are seeded by seed + shard index, so a resumed job writes what an unkilled one would). When no sample is
accepted nothing but the shards is written and the error states the acceptance rate: an empty dataset is
never passed on to training.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from probscope.checks import check_count, check_number
from probscope.data import DataFormat, read_records
from probscope.data.encoding import render_prompt
from probscope.data.formats import read_turns
from probscope.errors import ProbscopeError
from probscope.runs import claim_plan, code_version, write_text_atomic
from probscope.runs.writable import check_directory
from probscope.training.rewards import REWARDS, score_replies

logger = logging.getLogger(__name__)

ACCEPTED = "accepted.jsonl"
FRONTIER = "frontier.jsonl"
PASS_RATE = "pass_rate"
PAIRS = "pairs.jsonl"
PROVENANCE = "provenance.json"
PLAN = "settings.json"
SHARDS = "shards"

# A policy: (rendered prompts, k, shard seed) -> k completions per prompt
Policy = Callable[[list[str], int, int], list[list[str]]]


@dataclass
class SampleConfig:
    policy: str = field(metadata={"help": "model directory to sample from (the base or any checkpoint)"})
    data: str = field(metadata={"help": "prompts with reference answers (any dataset format with an answer)"})
    out: str = field(metadata={"help": "output directory"})
    reward: str = field(metadata={"help": f"verifier: {', '.join(REWARDS)}"})
    k: int = field(default=4, metadata={"help": "completions per prompt"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling threshold"})
    max_new_tokens: int = field(default=128, metadata={"help": "longest completion in tokens"})
    seed: int = field(default=0, metadata={"help": "seed (shard i samples with seed + i)"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N prompts"})
    shard_size: int = field(default=64, metadata={"help": "prompts per shard: the unit of resuming"})
    batch_size: int = field(default=64, metadata={"help": "prompts per generate call (x k sequences)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if present, else cpu) or a torch device"})
    pass_band: str | None = field(
        default=None, metadata={"help": "LO,HI: also write frontier.jsonl, the rows whose pass rate (accepted "
                                        "samples / k) lies in [LO, HI], e.g. 0.2,0.8 (RL data whose groups "
                                        "carry signal)"})

    def __post_init__(self) -> None:
        """Checked when built (from flags or in Python), before anything loads."""
        if self.reward not in REWARDS:
            raise ProbscopeError(f"reward: {REWARDS.unknown_message(self.reward)}")
        for name in ("k", "max_new_tokens", "shard_size", "batch_size"):
            check_count(name, getattr(self, name))
        check_count("limit", self.limit, optional=True)
        check_number("temperature", self.temperature, low=0.0, low_open=True)
        check_number("top_p", self.top_p, low=0.0, high=1.0, low_open=True)
        parse_pass_band(self.pass_band)
        check_directory(self.out, "out")   # a file or an unwritable folder fails here, before the model loads


def sample(cfg: SampleConfig, fmt: DataFormat | None = None, policy: Policy | None = None) -> dict:
    """Run (or resume) rejection sampling; returns the provenance. `policy` replaces the model (tests)."""
    from tqdm.auto import tqdm

    fmt = fmt or DataFormat()
    band = parse_pass_band(cfg.pass_band)
    out = Path(cfg.out)
    records = read_records(cfg.data)[: cfg.limit]
    if not records:
        raise ProbscopeError(f"{cfg.data}: no rows")
    tokenizer = None
    if policy is None:
        policy, tokenizer = model_policy(cfg)
    prompts = [_prompt_of(record, fmt, cfg.data, number) for number, record in enumerate(records, 1)]
    if tokenizer is None:   # a policy given by the caller sees the prompts as the data gives them
        rendered = [str(prompt) for prompt, _ in prompts]
    else:                   # the model sees them exactly as training renders them
        rendered = [render_prompt(r, tokenizer, fmt, source=cfg.data, row=n) for n, r in enumerate(records, 1)]
    _claim(out, cfg)
    n_shards = -(-len(records) // cfg.shard_size)
    start = time.time()
    for shard in tqdm(range(n_shards), desc="sampling shards", unit="shard"):
        path = out / SHARDS / f"shard-{shard:05d}.jsonl"
        if path.is_file():
            continue   # finished before a kill: atomic writes never leave half a shard
        lo, hi = shard * cfg.shard_size, min((shard + 1) * cfg.shard_size, len(records))
        samples = []
        for b in range(lo, hi, cfg.batch_size):
            batch = range(b, min(b + cfg.batch_size, hi))
            completions = policy([rendered[i] for i in batch], cfg.k, cfg.seed + shard)
            for i, replies in zip(batch, completions, strict=True):
                answer = prompts[i][1]
                rewards = score_replies(cfg.reward, replies, [answer] * len(replies))
                samples += [{"index": i, "completion": c, "reward": r} for c, r in zip(replies, rewards, strict=False)]
        write_text_atomic(path, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))
    return _write_datasets(cfg, out, prompts, n_shards, time.time() - start, records, band)


def _settings(cfg: SampleConfig) -> dict:
    """What the samples depend on (not where they go or how they are batched)."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("out", "batch_size", "device", "pass_band")}


def _claim(out: Path, cfg: SampleConfig) -> None:
    """Record the settings before the first shard; a rerun with other settings must not mix shards."""
    before = claim_plan(out / PLAN, _settings(cfg), "sampling") or {}
    changed = sorted(k for k in before if before[k] != _settings(cfg).get(k))
    if changed:
        raise ProbscopeError(f"{out}: sampled before with other {', '.join(changed)}; delete it or choose "
                             f"another --out")


def _prompt_of(record: dict, fmt: DataFormat, source: str, number: int):
    """(prompt as the data gives it: text or chat turns, reference answer) of one row."""
    turns = read_turns(record, fmt, source=source, row=number)
    if turns.answer is None:
        raise ProbscopeError(f"{source}: row {number}: no reference answer for the verifier "
                             f"(column {fmt.answer_column!r}, or a \\boxed{{}} in the solution)")
    return turns.prompt, str(turns.answer)


def parse_pass_band(text: str | None) -> tuple[float, float] | None:
    """(LO, HI) from "LO,HI" with 0 <= LO <= HI <= 1; None for no band."""
    if text is None or not str(text).strip():
        return None
    try:
        lo, hi = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ProbscopeError(f"pass_band: {text!r} is not LO,HI (two numbers, e.g. 0.2,0.8)") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise ProbscopeError(f"pass_band: {text!r} needs 0 <= LO <= HI <= 1")
    return lo, hi


def pass_rates(samples: list[dict]) -> dict[int, float]:
    """Per prompt index: the share of its samples the verifier accepted."""
    counts: dict[int, list[int]] = {}
    for s in samples:
        seen = counts.setdefault(s["index"], [0, 0])
        seen[0] += s["reward"] >= 1.0
        seen[1] += 1
    return {index: accepted / total for index, (accepted, total) in counts.items()}


def frontier_rows(records: list[dict], rates: dict[int, float], band: tuple[float, float]) -> list[dict]:
    """The data's rows whose pass rate lies in the band (inclusive), unchanged plus their `pass_rate`."""
    lo, hi = band
    return [{**records[i], PASS_RATE: rate} for i, rate in sorted(rates.items()) if lo <= rate <= hi]


def _write_datasets(cfg: SampleConfig, out: Path, prompts, n_shards: int, seconds: float, records: list[dict],
                    band: tuple[float, float] | None) -> dict:
    samples = [json.loads(line) for shard in range(n_shards)
               for line in (out / SHARDS / f"shard-{shard:05d}.jsonl").read_text().splitlines() if line]
    accepted = [s for s in samples if s["reward"] >= 1.0]
    rate = len(accepted) / len(samples)
    if not accepted:
        raise ProbscopeError(f"{cfg.policy}: no sample accepted by verifier {cfg.reward!r} "
                             f"(acceptance rate {rate:.1%} of {len(samples)} samples, k={cfg.k}, temperature "
                             f"{cfg.temperature}): nothing to train on; try a stronger policy, a larger k or "
                             f"another temperature")
    rows = [{"prompt": prompts[s["index"]][0], "completion": s["completion"], "answer": prompts[s["index"]][1]}
            for s in accepted]
    pairs = []
    by_prompt: dict[int, tuple[list[str], list[str]]] = {}
    for s in samples:
        good, bad = by_prompt.setdefault(s["index"], ([], []))
        (good if s["reward"] >= 1.0 else bad).append(s["completion"])
    for index, (good, bad) in by_prompt.items():
        pairs += [{"prompt": prompts[index][0], "chosen": c, "rejected": r, "answer": prompts[index][1]}
                  for c, r in zip(good, bad, strict=False)]
    _write_jsonl(out / ACCEPTED, rows)
    _write_jsonl(out / PAIRS, pairs)
    rates = pass_rates(samples)
    provenance = {
        **_settings(cfg),
        "n_prompts": len(prompts), "n_samples": len(samples), "n_accepted": len(accepted),
        "acceptance_rate": rate, "prompts_with_accepted": sum(1 for g, _ in by_prompt.values() if g),
        "n_pairs": len(pairs), "prompts_all_accepted": sum(1 for r in rates.values() if r == 1.0),
        "prompts_none_accepted": sum(1 for r in rates.values() if r == 0.0), "code_version": code_version(),
    }
    if band is not None:
        frontier = frontier_rows(records, rates, band)
        if not frontier:
            raise ProbscopeError(f"{cfg.policy}: no prompt has a pass rate in [{band[0]:g}, {band[1]:g}] "
                                 f"({provenance['prompts_all_accepted']} of {len(rates)} always pass, "
                                 f"{provenance['prompts_none_accepted']} never; k={cfg.k}): widen the band or "
                                 f"raise k")
        _write_jsonl(out / FRONTIER, frontier)
        provenance.update(pass_band=list(band), n_frontier=len(frontier))
    write_text_atomic(out / PROVENANCE, json.dumps(provenance, indent=2))
    logger.info("probscope sample: %d/%d samples accepted (%.1f%%), %d pairs, %d prompts with an accepted "
                "sample -> %s (%.0fs)", len(accepted), len(samples), 100 * rate, len(pairs),
                provenance["prompts_with_accepted"], out, seconds)
    if not pairs:
        logger.warning("probscope sample: no prompt has both an accepted and a rejected sample: %s is empty "
                       "(DPO needs pairs)", out / PAIRS)
    return provenance


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


# ---- the model as a policy ------------------------------------------------------------------------------
def model_policy(cfg: SampleConfig) -> tuple[Policy, object]:
    """A Hugging Face causal LM sampling k completions per prompt through probscope.decoding (evaluation's layer)."""
    import torch

    from probscope.decoding import Decoding, generate_ids
    from probscope.devices import resolve_device
    from probscope.models import load_causal_lm, load_tokenizer

    device = resolve_device(cfg.device)      # refuses a device the machine lacks before loading anything
    tokenizer = load_tokenizer(cfg.policy)   # pad = EOS when the tokenizer has none
    model = load_causal_lm(cfg.policy)
    model.to(device).eval()

    def generate(prompts: list[str], k: int, seed: int) -> list[list[str]]:
        torch.manual_seed(seed)
        ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        decoding = Decoding(k, cfg.temperature, cfg.top_p, cfg.max_new_tokens)
        replies = generate_ids(model, ids, decoding, pad_id=tokenizer.pad_token_id, batch_size=len(prompts),
                               stop_ids={tokenizer.eos_token_id, tokenizer.pad_token_id} - {None})
        return [[tokenizer.decode(reply, skip_special_tokens=True).strip() for reply in row] for row in replies]

    return generate, tokenizer
