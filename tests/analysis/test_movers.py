"""Token movers between checkpoints or runs, and the refusal of runs with different tokenizers.

    .venv/bin/pytest tests/analysis/test_movers.py -q
"""

import json
import shutil

import numpy as np
import polars as pl
import pytest

import probscope as ps
from probscope import schema
from probscope.analysis.movers import tokenizer_fingerprint
from probscope.errors import ProbscopeError
from probscope.runs import Run


def tokens(rows):
    """(token_id, token, role, p) rows."""
    token_id, token, role, p = zip(*rows, strict=False)
    return pl.DataFrame({schema.TOKEN_ID: token_id, schema.TOKEN: token, schema.ROLE: role, schema.P: p},
                        schema_overrides={schema.TOKEN_ID: pl.Int32})


def test_movers_on_a_hand_built_pair():
    before = tokens([(1, "a", "word", 0.2)] * 3 + [(2, "b", "word", 0.9)] * 3 + [(3, "c", "number", 0.5)] * 3
                    + [(4, "d", "word", 0.1)])                          # d: seen once, too rare to count
    after = tokens([(1, "a", "word", 0.8), (1, "a", "word", 0.6), (1, "a", "word", 0.7)]
                   + [(2, "b", "word", 0.4)] * 3 + [(3, "c", "number", 0.5)] * 3 + [(4, "d", "word", 0.9)] * 5)
    moved = ps.token_movers(before, after, min_count=3)
    assert moved.select("direction", "rank", "token", "delta").rows() == [
        ("rose", 1, "a", pytest.approx(0.5)), ("fell", 1, "b", pytest.approx(-0.5)),   # c did not move
    ]
    assert moved.row(0, named=True) | {"delta": 0} == {
        "direction": "rose", "rank": 1, "token_id": 1, "token": "a", "n_before": 3, "p_before": pytest.approx(0.2),
        "n_after": 3, "p_after": pytest.approx(0.7), "delta": 0}
    by_role = ps.token_movers(before, after, by="role", min_count=3)
    # word: before (0.6 + 2.7 + 0.1) / 7, after (2.1 + 1.2 + 4.5) / 11
    assert by_role.filter(role="word")["delta"].item() == pytest.approx(7.8 / 11 - 3.4 / 7)
    with pytest.raises(ProbscopeError, match="top=0: must be an integer >= 1"):
        ps.token_movers(before, after, min_count=3, top=0)


def test_movers_refuse_token_ids_that_decode_differently():
    before = tokens([(1, "a", "word", 0.2)] * 5)
    after = tokens([(1, "ä", "word", 0.3)] * 5)
    with pytest.raises(ProbscopeError,
                       match="token id 1 is 'a' in one table and 'ä' in the other: .*different tokenizers"):
        ps.token_movers(before, after)
    assert ps.token_movers(before, after, by="role", min_count=1)["delta"].item() == pytest.approx(0.1)
    with pytest.raises(ProbscopeError, match="by='tokens' is not one of token, role"):
        ps.token_movers(before, after, by="tokens")


def test_movers_between_checkpoints_of_a_fixture_run(runs_root):
    before, after = ps.load_pair(runs_root, ("sft", 5), ("sft", "last"))
    moved = ps.token_movers(before, after, top=None, min_count=1)
    b, a = before.collect(), after.collect()
    reference = {}
    for token_id in set(b[schema.TOKEN_ID]) & set(a[schema.TOKEN_ID]):
        reference[token_id] = (np.mean(a.filter(token_id=token_id)["p"].to_numpy())
                               - np.mean(b.filter(token_id=token_id)["p"].to_numpy()))
    assert dict(moved.select("token_id", "delta").rows()) == pytest.approx(reference)
    rose = moved.filter(direction="rose")["delta"].to_list()
    assert rose == sorted(rose, reverse=True) and all(d > 0 for d in rose)


def test_a_missing_step_lists_the_finished_ones(runs_root):
    with pytest.raises(ProbscopeError, match=r"sft: no finished probe table .* step\(s\) 7 \(finished: 5, 10\)"):
        ps.load_pair(runs_root, ("sft", 7), ("sft", 10))


def write_tokenizer(directory, vocab, **extra):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab},
                                                           "added_tokens": [], **extra}))


def test_runs_with_different_tokenizers_are_refused_token_by_token(runs_root, tmp_path):
    shutil.copytree(runs_root, tmp_path, dirs_exist_ok=True)
    assert ps.same_tokenizer(tmp_path, "sft", "dft") is None                  # fixture checkpoints hold no tokenizer
    write_tokenizer(Run(tmp_path / "sft").checkpoint(10), {"a": 0, "b": 1}, padding=None)
    write_tokenizer(Run(tmp_path / "dft").checkpoint(10), {"a": 0, "b": 1}, padding={"length": 8})
    assert ps.same_tokenizer(tmp_path, "sft", "dft") is True                   # settings aside, one vocabulary
    write_tokenizer(Run(tmp_path / "dft").checkpoint(10), {"a": 0, "c": 1})
    assert ps.same_tokenizer(tmp_path, "sft", "dft") is False
    with pytest.raises(ProbscopeError, match="runs sft and dft saved different tokenizers"):
        ps.load_pair(tmp_path, ("sft", "last"), ("dft", "last"))
    before, after = ps.load_pair(tmp_path, ("sft", "last"), ("dft", "last"), token_by_token=False)
    assert not ps.token_movers(before, after, by="role").is_empty()            # roles still compare


def test_tokenizer_fingerprint_of_slow_tokenizer_files(tmp_path, real_dir):
    qwen = real_dir / "tokenizers" / "qwen2.5-math-1.5b"
    copy = tmp_path / "copy"
    shutil.copytree(qwen, copy)
    (copy / "tokenizer_config.json").write_text("{}")                          # not part of the vocabulary
    assert tokenizer_fingerprint(copy) == tokenizer_fingerprint(qwen) is not None
    (copy / "merges.txt").write_text("#version: 0.2\n")
    assert tokenizer_fingerprint(copy) != tokenizer_fingerprint(qwen)
    assert tokenizer_fingerprint(tmp_path / "nothing") is None
