"""Checkpoints TRL's SFTTrainer wrote are probed on exactly the tokens it trained on.

The reference is a real SFTTrainer (its processed train_dataset) and a plain forward of the checkpoint; the
probe goes through add-run (which finds TRL's model card) and probe --run with no tokenization flag.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import REAL
from helpers import sft_config, small_llama

from probscope import schema
from probscope.data import DataFormat, encode_records
from probscope.probe import read_probe_table
from probscope.probe.run import probe_run
from probscope.runs import Run
from probscope.runs.add import add_run
from probscope.runs.provenance import written_by_trl_sft

STORIES = REAL / "models" / "stories260K"
PROMPT_COMPLETION = [{"prompt": "Question: what did Lily see?", "completion": " Lily saw a big red ball."},
                     {"prompt": "Once upon a time", "completion": " there was a cat."}]
MESSAGES = [{"messages": [{"role": "user", "content": "w1 w2 w3"}, {"role": "assistant", "content": "w4 w5"}]},
            {"messages": [{"role": "system", "content": "w9"}, {"role": "user", "content": "w6"},
                          {"role": "assistant", "content": "w7 w8 w1"}]}]


def _train_with_trl(tmp_path: Path, model, tokenizer, records: list[dict]):
    """One SFTTrainer step saved as checkpoint-1 (model card in its output folder); returns the trainer."""
    from datasets import Dataset
    from trl import SFTTrainer

    args = sft_config(tmp_path, output_dir=str(tmp_path / "trl-out"), max_steps=1, save_strategy="steps",
                      save_steps=1, per_device_train_batch_size=2, learning_rate=1e-3)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(records), processing_class=tokenizer)
    trainer.train()
    return trainer


def _probe_via_add_run(tmp_path: Path, records: list[dict]):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    run = add_run(tmp_path / "runs", "trl-sft", method="sft", checkpoints=tmp_path / "trl-out")
    assert run.read_manifest().config["tokenization"] == "trl"
    probe_run(run.root, data, device="cpu", dtype="float32", batch_size=1)
    return run, read_probe_table(run.probe_dir(1, "train"))


def _plain_p(checkpoint: Path, ids: list[int]) -> torch.Tensor:
    """p of each token given the ones before it, from one plain forward in float64."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    return logits.log_softmax(-1)[:-1].gather(1, torch.tensor(ids[1:])[:, None])[:, 0].exp()


def _assert_matches_trl(run: Run, table, trainer, records: list[dict], expected_targets) -> None:
    """Token ids, positions and p of the probe equal TRL's processed rows and a plain forward (1e-6)."""
    prepared = trainer.train_dataset
    # the probe's example ids in record order (TRL keeps the order: no shuffling by default)
    ids_in_order = [e.example_id for e in encode_records(records, trainer.processing_class,
                                                         DataFormat(tokenization="trl"))]
    assert sorted(ids_in_order) == sorted(table[schema.EXAMPLE_ID].unique().to_list())
    for example_id, example, targets in zip(ids_in_order, prepared, expected_targets, strict=True):
        rows = table.filter(table[schema.EXAMPLE_ID] == example_id).sort(schema.POSITION)
        ids = example["input_ids"]
        assert rows[schema.POSITION].to_list() == targets
        assert rows[schema.TOKEN_ID].to_list() == [ids[i] for i in targets]
        p = _plain_p(run.checkpoint(1), ids)
        assert rows[schema.P].to_list() == pytest.approx([float(p[i - 1]) for i in targets], abs=1e-6)


@pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/real/models/stories260K absent")
def test_untemplated_prompt_completion_is_probed_as_trl_trained(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(STORIES)
    assert not tokenizer.chat_template
    trainer = _train_with_trl(tmp_path, AutoModelForCausalLM.from_pretrained(STORIES), tokenizer, PROMPT_COMPLETION)
    assert written_by_trl_sft(tmp_path / "trl-out" / "checkpoint-1")
    run, table = _probe_via_add_run(tmp_path, PROMPT_COMPLETION)
    # TRL's targets: its labels (the completion and the EOS it appends)
    targets = [[i for i, label in enumerate(ex["labels"]) if label != -100] for ex in trainer.train_dataset]
    assert all(ex["input_ids"][0] == tokenizer.bos_token_id and ex["input_ids"][-1] == tokenizer.eos_token_id
               for ex in trainer.train_dataset)
    _assert_matches_trl(run, table, trainer, PROMPT_COMPLETION, targets)


def test_templated_messages_are_probed_as_trl_trained(tmp_path):
    from probscope.testing import word_tokenizer

    tokenizer = word_tokenizer(tmp_path / "tokenizer")
    assert tokenizer.chat_template
    trainer = _train_with_trl(tmp_path, small_llama(tokenizer), tokenizer, MESSAGES)
    run, table = _probe_via_add_run(tmp_path, MESSAGES)
    # TRL trains on the whole conversation; the probe's targets are its last assistant turn: the tokens after
    # the prompt rendered with the generation prompt
    targets = []
    for record, example in zip(MESSAGES, trainer.train_dataset, strict=False):
        prompt = tokenizer.apply_chat_template(record["messages"][:-1], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
        assert example["input_ids"][:len(prompt)] == prompt
        targets.append(list(range(len(prompt), len(example["input_ids"]))))
    _assert_matches_trl(run, table, trainer, MESSAGES, targets)
    # probe --model on the checkpoint folder finds TRL's card too, and probes the same tokens
    from probscope.cli import main as cli_main

    assert cli_main(["probe", "--model", str(tmp_path / "trl-out" / "checkpoint-1"), "--data",
                     str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "direct"), "--device", "cpu",
                     "--dtype", "float32", "--batch-size", "1"]) == 0
    direct = read_probe_table(tmp_path / "direct")
    columns = [schema.EXAMPLE_ID, schema.POSITION, schema.TOKEN_ID, schema.P]
    assert direct.select(columns).sort(columns[:2]).equals(table.select(columns).sort(columns[:2]))


def test_a_base_registered_as_trl_is_probed_as_trl(tmp_path):
    from probscope.testing import word_tokenizer

    tokenizer = word_tokenizer(tmp_path / "tokenizer")
    base = tmp_path / "base"
    small_llama(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"prompt": "w1 w2", "completion": " w3"}) + "\n")
    run = add_run(tmp_path / "runs", "base", method="base", checkpoints=base, step=0, tokenization="trl")
    assert run.read_manifest().config["tokenization"] == "trl"
    probe_run(run.root, data, device="cpu")
    table = read_probe_table(run.probe_dir(0, "qa"))
    expected = encode_records([{"prompt": "w1 w2", "completion": " w3"}], tokenizer, DataFormat(tokenization="trl"))
    assert table.sort(schema.POSITION)[schema.TOKEN_ID].to_list() == [
        i for i, target in zip(expected[0].input_ids, expected[0].target_mask, strict=False) if target]
    assert table[schema.TOKEN_ID].to_list()[-1] == tokenizer.eos_token_id


def test_probscope_rendering_differs_where_trl_adds_special_tokens(tmp_path):
    """Why the tokenization is recorded: without it the untemplated run loses TRL's BOS and EOS targets."""
    from probscope.testing import word_tokenizer

    tokenizer = word_tokenizer(tmp_path / "tokenizer")
    records = [{"prompt": "w1 w2", "completion": " w3"}]
    trl = encode_records(records, tokenizer, DataFormat(tokenization="trl"))[0]
    assert trl.input_ids[-1] == tokenizer.eos_token_id and trl.target_mask[-1]
    assert trl.example_id == encode_records(records, tokenizer, DataFormat())[0].example_id
    # text rows: TRL's language modelling, EOS appended, every token after the first a target
    (text,) = encode_records([{"text": "w1 w2 w3"}], tokenizer, DataFormat(tokenization="trl"))
    assert text.input_ids == tokenizer("w1 w2 w3")["input_ids"] + [tokenizer.eos_token_id]
    assert text.target_mask == [False] + [True] * (len(text.input_ids) - 1)


def test_a_probscope_runs_own_trainer_state_is_not_taken_for_trl(tmp_path):
    state = tmp_path / "run" / "trainer_state"
    (state / "checkpoint-5").mkdir(parents=True)
    (state / "README.md").write_text("---\ntags:\n- trl\n- sft\n---\n")
    assert written_by_trl_sft(state / "checkpoint-5")
    (tmp_path / "run" / "manifest.json").write_text("{}")
    assert not written_by_trl_sft(state / "checkpoint-5")
    (tmp_path / "run" / "manifest.json").unlink()
    (state / "README.md").write_text("---\ntags:\n- trl\n- dpo\n---\n")
    assert not written_by_trl_sft(state / "checkpoint-5")
