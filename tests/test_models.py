"""probscope.models: loading models and tokenizers, and the one-line errors for paths that hold neither.

    .venv/bin/pytest tests/test_models.py
"""

import pytest
import torch
from helpers import save_checkpoint, word_tokenizer

from probscope.errors import ProbscopeError
from probscope.models import load_causal_lm, load_tokenizer, require_model_dir
from probscope.runs import Manifest, Run


def test_a_run_directory_or_a_plain_directory_is_not_a_model(tmp_path):
    run = Run(tmp_path / "sft")
    run.root.mkdir()
    run.write_manifest(Manifest(name="sft", method="sft"))
    with pytest.raises(ProbscopeError, match="a run directory, not a model.*no finished checkpoint"):
        require_model_dir(run.root)
    with pytest.raises(ProbscopeError, match="no config.json"):
        require_model_dir(tmp_path)
    with pytest.raises(ProbscopeError, match="does not exist"):
        require_model_dir(tmp_path / "missing")


def test_a_run_directory_names_its_newest_checkpoint(tmp_path):
    run = Run(tmp_path / "sft")
    run.root.mkdir()
    run.write_manifest(Manifest(name="sft", method="sft"))
    save_checkpoint(run.checkpoint(20), vocab_size=50)
    with pytest.raises(ProbscopeError, match=f"pass one of its checkpoints \\(e.g. {run.checkpoint(20)}\\)"):
        load_causal_lm(run.root)
    with pytest.raises(ProbscopeError, match="a run directory, not a model"):
        load_tokenizer(run.root)


def test_load_causal_lm_as_saved_or_in_a_dtype(tmp_path):
    saved = save_checkpoint(tmp_path / "ckpt", vocab_size=50)
    model = load_causal_lm(tmp_path / "ckpt")
    assert model.dtype == torch.float32
    for name, p in saved.state_dict().items():
        assert torch.equal(model.state_dict()[name], p), name
    assert load_causal_lm(tmp_path / "ckpt", dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(ProbscopeError, match="dtype='half-ish'"):
        load_causal_lm(tmp_path / "ckpt", dtype="half-ish")


def test_a_broken_model_directory_is_a_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(ProbscopeError) as caught:
        load_causal_lm(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: cannot load a causal language model")
    assert len(str(caught.value).splitlines()) == 1


def test_an_unknown_hub_name_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for load, what in ((load_causal_lm, "causal language model"), (load_tokenizer, "tokenizer")):
        with pytest.raises(ProbscopeError) as caught:
            load("probscope-test/no-such-model")
        assert str(caught.value).startswith(f"probscope-test/no-such-model: cannot load a {what}")
        assert len(str(caught.value).splitlines()) == 1


def test_load_tokenizer_pads_with_eos_when_it_has_no_pad_token(tmp_path):
    tokenizer = word_tokenizer(50)
    tokenizer.eos_token = "w7"
    tokenizer.save_pretrained(tmp_path / "with-eos")
    loaded = load_tokenizer(tmp_path / "with-eos")
    assert loaded.pad_token == "w7" and loaded.pad_token_id == 7
    tokenizer.pad_token = "w3"
    tokenizer.save_pretrained(tmp_path / "with-pad")
    assert load_tokenizer(tmp_path / "with-pad").pad_token == "w3"   # an own pad token is kept
    word_tokenizer(50).save_pretrained(tmp_path / "bare")
    assert load_tokenizer(tmp_path / "bare").pad_token is None       # nothing to pad with: left unset

