"""Verifiers: a reply and its reference answer -> a reward in [0, 1], as a registry.

    from probscope.training.rewards import get_reward, score_replies, trl_reward_function
    get_reward("builtin-reasoning")("... So the answer is 1 2 .", "12")      # 1.0
    score_replies("math", replies, answers)          # list[float]; a verifier that fails on a reply gives it 0
    GRPOTrainer(..., reward_funcs=trl_reward_function("math"))               # TRL's reward-function signature

Registered: ``builtin-reasoning`` (the built-in task's final number), ``builtin-facts`` (the fact's value
appears in the reply), ``math`` (the reply's last ``\\boxed{}`` or ``#### N`` answer equals the reference:
see `math_answers_match`, the one function to swap for a full math grader). A new verifier is one function
``(reply: str, answer: str) -> float`` under ``@REWARDS.register("name")``.

A verifier that raises, or returns NaN or None, for one reply gives that reply 0 and logs a warning
(one per verifier and error type): one malformed sample never stops rejection sampling or training.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence

from probscope.registry import Registry

logger = logging.getLogger(__name__)

RewardFn = Callable[[str, str], float]
REWARDS: Registry[RewardFn] = Registry("reward")


def get_reward(name: str) -> RewardFn:
    return REWARDS.get(name)


# ---- the verifiers --------------------------------------------------------------------------------------
@REWARDS.register("builtin-reasoning")
def builtin_reasoning(reply: str, answer: str) -> float:
    """1 when the reply's final number ("... the answer is 1 2 .") is the reference answer."""
    from probscope.builtin.task import extract_answer

    return float(extract_answer(reply) == str(answer).strip())


@REWARDS.register("builtin-facts")
def builtin_facts(reply: str, answer: str) -> float:
    """1 when the fact's value is one of the reply's words."""
    from probscope.builtin.task import check_answer

    return float(check_answer(reply, str(answer).strip()))


@REWARDS.register("math")
def math_reward(reply: str, answer: str) -> float:
    """1 when the reply's final answer (last \\boxed{}, else the text after the last '####') matches."""
    predicted = final_math_answer(reply)
    return float(predicted is not None and math_answers_match(predicted, str(answer)))


def final_math_answer(reply: str) -> str | None:
    """The last \\boxed{...} of a reply, else what follows its last '####', else None."""
    from probscope.data.formats import last_boxed

    boxed = last_boxed(reply)
    if boxed is not None:
        return boxed
    _, sep, tail = reply.rpartition("####")
    return tail.strip().splitlines()[0] if sep and tail.strip() else None


def math_answers_match(predicted: str, reference: str) -> bool:
    """Exact match after removing spaces, `$` and a surrounding \\boxed{} (the one place a real grader plugs in)."""
    return _normalize(predicted) == _normalize(reference)


def _normalize(answer: str) -> str:
    from probscope.data.formats import last_boxed

    answer = last_boxed(answer) or answer
    return re.sub(r"[\s$]", "", answer).rstrip(".")


# ---- scoring many replies, safely -----------------------------------------------------------------------
def score_replies(name: str, replies: Sequence[str], answers: Sequence[str | None]) -> list[float]:
    """The verifier's reward for each (reply, answer); 0 (plus a warning) where it raises or gives no number."""
    fn = get_reward(name)
    return [_safe(name, fn, reply, answer) for reply, answer in zip(replies, answers, strict=True)]


_warned: set[tuple[str, str]] = set()


def _safe(name: str, fn: RewardFn, reply: str, answer: str | None) -> float:
    try:
        if answer is None:
            raise ValueError("the row has no reference answer")
        value = fn(reply, answer)
        value = float("nan") if value is None else float(value)
        if math.isnan(value):
            raise ValueError("the verifier returned NaN")
        return value
    except Exception as e:  # any verifier bug: this reply scores 0, training goes on
        key = (name, type(e).__name__)
        if key not in _warned:
            _warned.add(key)
            logger.warning("reward %r failed on a reply (%s: %s); that reply gets reward 0 "
                           "(further %s errors of this verifier are not reported)",
                           name, type(e).__name__, str(e).splitlines()[0] if str(e) else "", type(e).__name__)
        return 0.0


def trl_reward_function(name: str, answer_column: str = "answer"):
    """The verifier as a TRL reward function (GRPOTrainer's reward_funcs): reads the dataset's answer column."""
    get_reward(name)   # an unknown name fails here, before training starts

    def reward(prompts, completions, **columns) -> list[float]:
        answers = columns.get(answer_column) or [None] * len(completions)
        return score_replies(name, [completion_text(c) for c in completions], answers)

    reward.__name__ = name.replace("-", "_")   # TRL logs rewards/<name>/mean
    return reward


def completion_text(completion) -> str:
    """A TRL completion as text: a string, or a conversational [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
