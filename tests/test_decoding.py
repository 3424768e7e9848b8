"""The decoding layer shared by evaluation and sampling: greedy outputs equal plain `generate` on each prompt
alone, in length-bucketed, left-padded batches, with the dynamic cache (CPU path) and the static cache (the
GPU path's cache, compiled there; here uncompiled), and replies cut at the first stop id.

    .venv/bin/pytest tests/test_decoding.py -q
"""

from __future__ import annotations

import random

import pytest
import torch
from helpers import tiny_llama

from probscope.decoding import Decoding, generate_ids
from probscope.errors import ProbscopeError
from probscope.evaluate.generation import preset

pytestmark = pytest.mark.usefixtures("one_thread")
VOCAB, PAD, NEW = 64, 0, 6


def reference(model, prompt: list[int], stop: int) -> list[int]:
    """Plain greedy `generate` on one prompt, no padding, cut after the first stop id."""
    with torch.inference_mode():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             max_new_tokens=NEW, do_sample=False, pad_token_id=PAD, eos_token_id=None)
    reply = out[0, len(prompt):].tolist()
    return reply[:reply.index(stop) + 1] if stop in reply else reply


@pytest.mark.parametrize("fast", [False, True], ids=["dynamic-cache", "static-cache"])
def test_greedy_batches_equal_plain_generate_per_prompt(fast):
    model = tiny_llama(VOCAB, context=256)
    rng = random.Random(0)
    prompts = [[rng.randrange(1, VOCAB) for _ in range(rng.randint(2, 20))] for _ in range(7)]
    plain = [reference(model, p, stop=VOCAB) for p in prompts]   # no stop: whole replies
    stop = max(set(t for r in plain for t in r), key=lambda t: sum(r.count(t) for r in plain))   # a token met
    expected = [reference(model, p, stop) for p in prompts]
    ours = generate_ids(model, prompts, Decoding(k=1, temperature=0.0, max_new_tokens=NEW), pad_id=PAD, stop_ids={stop},
                        batch_size=3, fast=fast)
    assert [replies[0] for replies in ours] == expected
    assert any(len(r) < NEW for r in expected), "the stop id cut at least one reply"


def test_sampling_returns_k_replies_per_prompt_and_counts_them():
    model = tiny_llama(VOCAB, context=256)
    seen = []
    torch.manual_seed(0)
    out = generate_ids(model, [[1, 2, 3], [4, 5]], Decoding(k=3, temperature=1.0, top_p=1.0, max_new_tokens=4),
                       pad_id=PAD, stop_ids=set(), on_batch=lambda n, tokens: seen.append((n, tokens)))
    assert [len(r) for r in out] == [3, 3] and all(len(reply) == 4 for r in out for reply in r)
    assert seen == [(6, 24)]


def test_the_paper_preset():
    settings = preset("paper", max_new_tokens=4096)
    assert (settings.k, settings.temperature, settings.top_p, settings.max_new_tokens) == (16, 1.0, 1.0, 4096)


@pytest.mark.bad_input
def test_an_unknown_preset_is_named():
    with pytest.raises(ProbscopeError, match="sampling preset 'papr': use one of paper"):
        preset("papr")


@pytest.mark.bad_input
def test_eval_command_names_an_unknown_preset(tmp_path, capsys):
    from probscope.cli import main

    assert main(["eval", "--runs", str(tmp_path), "--benchmark", "math500", "--preset", "papr"]) == 2
    assert "sampling preset 'papr': use one of paper" in capsys.readouterr().err
