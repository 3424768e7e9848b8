"""reply_end: eos ends each reply with the tokenizer's EOS after the templated prompt (the DFT authors' recipe)
instead of the chat template's end-of-turn token.

    .venv/bin/pytest tests/data/test_reply_end.py -q
"""

import pytest

from probscope.data import DataFormat, encode_records
from probscope.errors import ProbscopeError

ROW = {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$."}


def targets(example, tokenizer) -> list[int]:
    return [t for t, m in zip(example.input_ids, example.target_mask, strict=False) if m]


def test_qwen_reply_ends_with_eos_not_end_of_turn(real_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_dir / "tokenizers" / "qwen2.5-math-1.5b")
    (template,) = encode_records([ROW], tokenizer, DataFormat(kind="numina"))
    (eos,) = encode_records([ROW], tokenizer, DataFormat(kind="numina", reply_end="eos"))
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert targets(template, tokenizer)[-1] == end_of_turn
    assert targets(eos, tokenizer)[-1] == tokenizer.eos_token_id != end_of_turn
    assert end_of_turn not in targets(eos, tokenizer)
    # the same reply tokens before the end, the same prompt before the reply
    assert targets(eos, tokenizer)[:-1] == targets(template, tokenizer)[:-1]
    n_prompt = eos.target_mask.index(True)
    assert eos.input_ids[:n_prompt] == template.input_ids[:n_prompt]
    assert tokenizer.decode(targets(eos, tokenizer)) == ROW["solution"] + tokenizer.eos_token


def test_reply_end_is_validated():
    with pytest.raises(ProbscopeError, match="unknown reply_end 'eot'"):
        DataFormat(reply_end="eot")
