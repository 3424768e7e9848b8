"""GradientWeightCallback: what it records, against an independent computation from full logits.

    .venv/bin/pytest tests/training/test_dynamics.py
"""

import copy
import warnings

import numpy as np
import polars as pl
import pytest
import torch
from helpers import TRAINER_VOCAB, padded, sft_config

from probscope import schema
from probscope.analysis.dynamics import read_dynamics
from probscope.errors import ProbscopeError
from probscope.runs import DYNAMICS_PART_GLOB
from probscope.training.callbacks import GradientWeightCallback
from probscope.training.objectives import get_objective, objective_names


def spread_model(model):
    """`model` (a tiny Llama) with its LM head scaled up so that p spreads over many Figure-2 bins (a fresh one
    gives ~1/V)."""
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
    return model


def reference(model, data) -> dict[str, np.ndarray]:
    """Per target token, from the model's full softmax in float64: p, |softmax - onehot|^2, entropy."""
    ids, attention, labels = padded(data)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].double()
    targets = labels[:, 1:]
    mask = targets != -100
    soft = torch.softmax(logits, -1)[mask].numpy()
    onehot = np.eye(TRAINER_VOCAB)[targets[mask].numpy()]
    p = soft[np.arange(len(soft)), targets[mask].numpy()]
    return {"p": p, "g2": ((soft - onehot) ** 2).sum(-1), "entropy": -(soft * np.log(soft)).sum(-1)}


def figure2_counts(p: np.ndarray) -> list[int]:
    """Tokens per bin: [lo, hi) with the last bin closed, counted with numpy."""
    inner = np.array(schema.BIN_EDGES[1:-1])
    return np.bincount(np.searchsorted(inner, p, side="right"), minlength=len(schema.BIN_LABELS)).tolist()


def test_schema_bin_index_matches_numpy_edges():
    edges = np.array(schema.BIN_EDGES)
    p = np.concatenate([edges, edges[1:-1] * (1 - 1e-9), np.linspace(0, 1, 97), [1 + 1e-7]])
    got = pl.select(schema.bin_index(pl.lit(pl.Series(p)))).to_series().to_list()
    expected = np.minimum(np.searchsorted(edges[1:-1], p, side="right"), len(schema.BIN_LABELS) - 1)
    assert got == expected.tolist()                               # [lo, hi); 1.0 and a rounding above it: top bin
    invalid = pl.select(schema.bin_index(pl.lit(pl.Series([None, float("nan"), -1e-3, 1.01])))).to_series()
    assert invalid.to_list() == [schema.INVALID_BIN] * 4


def check_step_against_reference(table: pl.DataFrame, step: int, ref: dict[str, np.ndarray]) -> None:
    rows = {r[schema.OBJECTIVE]: r for r in table.filter(pl.col(schema.STEP) == step).iter_rows(named=True)}
    p = ref["p"]
    sft, dft = rows["sft"], rows["dft"]
    assert sft[schema.N_TOKENS] == len(p)
    assert sft[schema.P_BIN_COUNTS] == figure2_counts(p)
    assert sum(sft[schema.P_BIN_COUNTS]) == len(p)
    assert len([c for c in sft[schema.P_BIN_COUNTS] if c]) >= 3, "the example must spread over bins"
    edges = np.array(schema.BIN_EDGES[1:-1])
    assert np.abs(p[:, None] / edges - 1).min() > 1e-4, "a p this close to an edge could bin either way in float32"
    assert sft[schema.SFT_LOSS] == pytest.approx(np.mean(-np.log(p)), rel=1e-4)
    assert sft[schema.DFT_LOSS] == pytest.approx(np.mean(-p * np.log(p)), rel=1e-4)
    assert sft[schema.MEAN_ENTROPY] == pytest.approx(ref["entropy"].mean(), rel=1e-4)
    # logit view: SFT 1, DFT p; RL view: SFT 1/p, DFT 1
    assert sft[schema.WEIGHT_MEAN] == 1.0 and sft[schema.RL_WEIGHT_MEAN] == pytest.approx(np.mean(1 / p), rel=1e-4)
    assert dft[schema.WEIGHT_MEAN] == pytest.approx(p.mean(), rel=1e-4)
    assert dft[schema.RL_WEIGHT_MEAN] == pytest.approx(1.0, rel=1e-6)
    for q, column in schema.WEIGHT_QUANTILE.items():
        assert dft[column] == pytest.approx(np.quantile(p, q), rel=1e-4), column
    # share of sum w^2 * |grad_z|^2 per bin, the norm taken directly from softmax - onehot
    bins = np.searchsorted(np.array(schema.BIN_EDGES[1:-1]), p, side="right")
    for row, weight in ((sft, np.ones_like(p)), (dft, p)):
        contribution = weight ** 2 * ref["g2"]
        expected = [contribution[bins == b].sum() / contribution.sum() for b in range(len(schema.BIN_LABELS))]
        np.testing.assert_allclose(row[schema.GRAD_SQ_SHARE], expected, rtol=1e-3, atol=1e-7)


def test_objective_trainer_records_the_logged_batches(tmp_path, tokenizer, llama, sft_dataset):
    from probscope.training.trainer import ObjectiveSFTTrainer

    data = sft_dataset(8, (6, 12), (1, 4), seed=5)
    model = spread_model(llama())
    initial = copy.deepcopy(model)
    callback = GradientWeightCallback(tmp_path / "dynamics", flush_every=2)
    trainer = ObjectiveSFTTrainer(
        model, args=sft_config(tmp_path, max_steps=4, per_device_train_batch_size=8, learning_rate=1e-3,
                               logging_steps=2, logging_first_step=True),
        train_dataset=data, processing_class=tokenizer, objective="dft", callbacks=[callback],
    )
    trainer.train()
    table = read_dynamics(tmp_path / "dynamics")
    assert table.schema == schema.dynamics_schema()
    assert sorted(set(table[schema.STEP])) == [1, 2, 4]
    assert set(table[schema.OBJECTIVE]) == {"sft", "dft", "dft-sentence", "dft-geometric", "dft-floor", "power",
                                              "sft-above", "sft-below", "only-top-p"}
    # step 1 trained on all 8 examples with the initial weights
    check_step_against_reference(table, 1, reference(initial, data))
    logged = {h["step"]: h for h in trainer.state.log_history if "grad_norm" in h}
    for row in table.filter(pl.col(schema.OBJECTIVE) == "sft").iter_rows(named=True):
        assert row[schema.GRAD_NORM] == pytest.approx(logged[row[schema.STEP]]["grad_norm"])
        assert row[schema.LEARNING_RATE] == pytest.approx(logged[row[schema.STEP]]["learning_rate"])
        assert sum(row[schema.P_BIN_COUNTS]) == row[schema.N_TOKENS]
    assert len(list((tmp_path / "dynamics").glob(DYNAMICS_PART_GLOB))) == 2   # steps 1-2, then 4 at train end


def plain_trainer(tmp_path, model, data, callbacks, **overrides):
    from transformers import Trainer, TrainingArguments, default_data_collator

    settings = dict(output_dir=str(tmp_path / "plain"), report_to=[], save_strategy="no", disable_tqdm=True,
                    learning_rate=1e-3, logging_steps=1, seed=0)
    return Trainer(model=spread_model(model), args=TrainingArguments(**{**settings, **overrides}),
                   train_dataset=data, data_collator=default_data_collator, callbacks=callbacks)


def test_plain_transformers_trainer_with_accumulation(tmp_path, llama, sft_dataset):
    data = sft_dataset(8, (10, 10), (1, 6), seed=6)   # equal lengths: the default collator
    callback = GradientWeightCallback(tmp_path / "dynamics")
    trainer = plain_trainer(tmp_path, llama(), data, [callback], max_steps=2, per_device_train_batch_size=4,
                            gradient_accumulation_steps=2)
    initial = copy.deepcopy(trainer.model)
    trainer.train()
    table = read_dynamics(tmp_path / "dynamics")
    assert sorted(set(table[schema.STEP])) == [1, 2]
    check_step_against_reference(table, 1, reference(initial, data))   # both micro-batches of the window


def test_records_only_every_nth_step_and_leaves_no_hook(tmp_path, llama, sft_dataset):
    data = sft_dataset(8, (10, 10), (1, 6), seed=7)
    trainer = plain_trainer(tmp_path, llama(), data, [GradientWeightCallback(tmp_path / "dynamics", every=3)],
                            max_steps=7, per_device_train_batch_size=4)
    trainer.train()
    table = read_dynamics(tmp_path / "dynamics")
    assert sorted(set(table[schema.STEP])) == [3, 6]
    assert table[schema.GRAD_NORM].is_not_null().all()   # logging_steps=1: every recorded step was logged
    assert not trainer.model._forward_hooks


def test_a_killed_run_keeps_the_parts_it_flushed(tmp_path, llama, sft_dataset):
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise RuntimeError("killed")

    data = sft_dataset(8, (10, 10), (1, 6), seed=8)
    callback = GradientWeightCallback(tmp_path / "dynamics", flush_every=2)
    trainer = plain_trainer(tmp_path, llama(), data, [callback, Kill()], max_steps=8, per_device_train_batch_size=2)
    with pytest.raises(RuntimeError, match="killed"):
        trainer.train()
    directory = tmp_path / "dynamics"
    assert sorted(p.name for p in directory.iterdir()) == [
        "part-000000001-000000002.parquet", "part-000000003-000000004.parquet"]   # no temporary files
    assert sorted(set(read_dynamics(directory)[schema.STEP])) == [1, 2, 3, 4]


def test_trl_sft_trainer_without_sum_p2_records_null_shares_and_warns(tmp_path, tokenizer, llama, sft_dataset):
    from trl import SFTTrainer

    data = sft_dataset(8, (6, 12), (1, 4), seed=9)
    trainer = SFTTrainer(spread_model(llama()), args=sft_config(tmp_path, max_steps=1, per_device_train_batch_size=8),
                         train_dataset=data, processing_class=tokenizer,
                         callbacks=[GradientWeightCallback(tmp_path / "dynamics")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert any("log_sum_sq_probs" in str(w.message) for w in caught)
    table = read_dynamics(tmp_path / "dynamics")
    one_step_per_objective = len([n for n in objective_names() if not get_objective(n).needs_vocab_logp])
    assert table.height == one_step_per_objective and table[schema.GRAD_SQ_SHARE].is_null().all()
    assert table[schema.N_TOKENS][0] == sum(table[schema.P_BIN_COUNTS][0])


def test_read_dynamics(tmp_path):
    with pytest.raises(ProbscopeError, match="no dynamics directory"):
        read_dynamics(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    empty = read_dynamics(tmp_path / "empty")
    assert empty.height == 0 and empty.schema == schema.dynamics_schema()


def test_sentence_weight_underflow_share_counts_replies_whose_weight_is_exactly_zero():
    import numpy as np

    from probscope.training.callbacks import summarize

    logp = np.array([-1.0, -2.0, -60.0, -60.0])
    tokens = {"logp": logp, "w:sft": np.ones(4), "_underflow": np.array([1.0, 0.0]), "_replies": np.array([2.0, 2.0])}
    (row,) = summarize(tokens, step=1, objectives=["sft"])
    assert row[schema.SENTENCE_WEIGHT_UNDERFLOW] == 0.25            # 1 of 4 replies, over two micro-batches
    (row,) = summarize({"logp": logp, "w:sft": np.ones(4)}, step=1, objectives=["sft"])
    assert row[schema.SENTENCE_WEIGHT_UNDERFLOW] is None


def test_training_records_the_sentence_weight_underflow(tmp_path, tokenizer, llama, sft_dataset):
    """A reply of 60 tokens at p ~ 1/vocab has exp(sum log p) = 0 in float32: the share is recorded (> 0)."""
    from probscope.training.callbacks import GradientWeightCallback
    from probscope.training.trainer import ObjectiveSFTTrainer

    dataset = sft_dataset(8, lengths=(60, 61), prompts=(1, 2))
    model = llama()
    callback = GradientWeightCallback(tmp_path / "dyn")
    ObjectiveSFTTrainer(model=model, args=sft_config(tmp_path, max_steps=1, per_device_train_batch_size=8),
                        train_dataset=dataset, processing_class=tokenizer,
                        callbacks=[callback], objective="sft").train()
    frame = read_dynamics(tmp_path / "dyn")
    assert frame[schema.SENTENCE_WEIGHT_UNDERFLOW].to_list()[0] > 0.5


def test_tokens_seen_counts_every_steps_input_tokens_without_padding(tmp_path, tokenizer, llama, sft_dataset):
    from probscope.training.trainer import ObjectiveSFTTrainer

    data = sft_dataset(8, (6, 12), (1, 4), seed=9)                # lengths differ: padding must not count
    trainer = ObjectiveSFTTrainer(
        llama(), args=sft_config(tmp_path, max_steps=4, per_device_train_batch_size=8, logging_steps=2,
                                 logging_first_step=True),
        train_dataset=data, processing_class=tokenizer, objective="sft",
        callbacks=[GradientWeightCallback(tmp_path / "dynamics")])
    trainer.train()
    table = read_dynamics(tmp_path / "dynamics").filter(pl.col(schema.OBJECTIVE) == "sft")
    per_step = sum(len(ids) for ids in data["input_ids"])          # a step of 8 is the whole data set
    assert table[schema.STEP].to_list() == [1, 2, 4]
    assert table[schema.TOKENS_SEEN].to_list() == [per_step, 2 * per_step, 4 * per_step]


def test_tokens_seen_is_unknown_after_resuming_a_run_that_did_not_count(tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    callback = GradientWeightCallback(tmp_path / "dynamics")
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[])
    resumed = TrainerState(global_step=40, num_input_tokens_seen=0)   # trained 40 steps without counting
    callback.on_train_begin(args, resumed, TrainerControl())
    assert not callback._counting and args.include_num_input_tokens_seen == "non_padding"
    counted = TrainerState(global_step=40, num_input_tokens_seen=12_345)
    callback.on_train_begin(args, counted, TrainerControl())
    assert callback._counting
