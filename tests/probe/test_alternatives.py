"""The k most likely tokens at a position (probscope.probe.alternatives) against the model's own forward, and
the probed examples read back as the probe encoded them.

    .venv/bin/pytest tests/probe/test_alternatives.py -q
"""

from __future__ import annotations

import polars as pl
import pytest
import torch
from helpers import probed_text_run, tiny_llama

from probscope.errors import ProbscopeError
from probscope.probe.alternatives import example_inputs, top_alternatives
from probscope.probe.table import read_probe_table


def test_top_k_matches_the_models_own_softmax():
    model = tiny_llama(vocab_size=300)
    ids = torch.randint(1, 300, (24,), generator=torch.Generator().manual_seed(3)).tolist()
    positions = [1, 7, 23]
    table = top_alternatives(model, ids, positions, k=5)
    with torch.no_grad():                                                     # independent: full logits, sort
        probs = model(input_ids=torch.tensor([ids])).logits[0].double().softmax(-1)
    for position in positions:
        rows = table.filter(pl.col("position") == position).sort("rank")
        expected = probs[position - 1].sort(descending=True)
        assert rows["rank"].to_list() == [1, 2, 3, 4, 5]
        assert rows["token_id"].to_list() == expected.indices[:5].tolist()
        assert rows["p"].to_list() == pytest.approx(expected.values[:5].tolist(), rel=1e-4)
        target = ids[position]
        assert rows["target_id"].unique().to_list() == [target]
        assert rows["target_p"][0] == pytest.approx(probs[position - 1, target].item(), rel=1e-4)
        assert rows["target_rank"][0] == expected.indices.tolist().index(target) + 1


@pytest.mark.bad_input
@pytest.mark.parametrize(("positions", "k", "message"), [([0], 3, "position 0: outside 1..5"),
                                                         ([6], 3, "position 6: outside"), ([2], 0, "k=0")])
def test_positions_outside_the_example_and_k_below_one(positions, k, message):
    with pytest.raises(ProbscopeError, match=message):
        top_alternatives(tiny_llama(vocab_size=50), [1, 2, 3, 4, 5, 6], positions, k=k)


def test_the_probed_examples_read_back_hold_the_probed_tokens(tmp_path):
    run = probed_text_run(tmp_path)
    inputs = example_inputs(run, 5, "train")
    probed = read_probe_table(run.probe_dir(5))
    assert set(inputs) == set(probed["example_id"])
    for row in probed.iter_rows(named=True):
        assert inputs[row["example_id"]][row["position"]] == row["token_id"]


def test_another_dataset_is_the_file_named_after_it_beside_the_training_data(tmp_path):
    run = probed_text_run(tmp_path, "facts.jsonl")                                  # probed on data/facts.jsonl
    probed = read_probe_table(run.probe_dir(5, "facts"))
    assert set(example_inputs(run, 5, "facts")) == set(probed["example_id"])


@pytest.mark.bad_input
def test_a_dataset_without_its_file_names_what_is_missing(tmp_path):
    run = probed_text_run(tmp_path)
    with pytest.raises(ProbscopeError, match=r"dataset 'gsm8k': no data file named gsm8k\.\* beside"):
        example_inputs(run, 5, "gsm8k")
