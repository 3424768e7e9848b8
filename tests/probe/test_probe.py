"""The probing engine against an independent full-vocabulary reference, plus shards, resume and bad input.

    .venv/bin/pytest tests/probe/test_probe.py            # add -m "not slow" to skip the compiled-statistics test
"""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
import torch
from helpers import (
    greedy_examples,
    random_examples,
    reference_rows,
    save_checkpoint,
    tiny_llama,
)

from probscope import runs, schema
from probscope.data import EncodedExample
from probscope.errors import ProbscopeError
from probscope.probe import (
    api,
    probe_checkpoint,
    probe_examples,
    read_probe_table,
    token_statistics,
)
from probscope.token_stats import default_chunk_size, logit_statistics

STAT_COLUMNS = (schema.P, schema.LOGP, schema.ENTROPY, schema.SUM_P2)


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models run fastest on one thread


# ---- token_statistics ---------------------------------------------------------------------------------
def _full_reference(hidden, weight, bias, targets, scale=1.0, softcap=None):
    z = hidden.double() @ weight.double().T + bias.double()
    z = z * scale
    if softcap:
        z = torch.tanh(z / softcap) * softcap
    lp = z.log_softmax(-1)
    z_t = z.gather(1, targets[:, None])
    return {
        "p": lp.gather(1, targets[:, None])[:, 0].exp(),
        "logp": lp.gather(1, targets[:, None])[:, 0],
        "entropy": -(lp.exp() * lp).sum(1),
        "rank": (z > z_t).sum(1) + 1,
        "sum_p2": (lp.exp() ** 2).sum(1),
    }


def _assert_stats_match(stats, ref):
    for key in ("p", "logp", "entropy", "sum_p2"):
        assert stats[key].dtype == torch.float32, key
        assert torch.allclose(stats[key].double(), ref[key], atol=1e-5, rtol=0), key
    assert torch.equal(stats["rank"], ref["rank"])
    assert torch.equal(stats["is_top1"], ref["rank"] == 1)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_token_statistics_equal_full_log_softmax(chunk_size):
    torch.manual_seed(0)
    n, h, v = 53, 16, 1000
    hidden, weight, bias = torch.randn(n, h), torch.randn(v, h) * 0.5, torch.randn(v)
    targets = torch.randint(0, v, (n,))
    targets[0] = (hidden[0] @ weight.T + bias).argmax()   # at least one top-1 target
    stats = token_statistics(hidden, weight, targets, bias=bias, chunk_size=chunk_size, compile=False)
    ref = _full_reference(hidden, weight, bias, targets)
    _assert_stats_match(stats, ref)
    assert bool(stats["is_top1"][0])


def test_rank_counts_strictly_greater_logits_so_ties_rank_first():
    weight = torch.tensor([[1.0], [3.0], [3.0], [2.0]])
    stats = token_statistics(torch.ones(3, 1), weight, torch.tensor([1, 2, 3]), compile=False)
    assert stats["rank"].tolist() == [1, 1, 3]
    assert stats["is_top1"].tolist() == [True, True, False]


def test_softcap_and_scale_are_applied_before_the_softmax():
    torch.manual_seed(1)
    hidden, weight, bias = torch.randn(20, 8), torch.randn(50, 8) * 3, torch.zeros(50)
    targets = torch.randint(0, 50, (20,))
    stats = token_statistics(hidden, weight, targets, logit_scale=0.5, softcap=4.0, chunk_size=8, compile=False)
    _assert_stats_match(stats, _full_reference(hidden, weight, bias, targets, scale=0.5, softcap=4.0))


@pytest.mark.slow
def test_compiled_statistics_equal_eager_and_reference():
    torch.manual_seed(2)
    hidden, weight, bias = torch.randn(37, 16), torch.randn(2000, 16) * 0.5, torch.randn(2000)
    targets = torch.randint(0, 2000, (37,))
    compiled = token_statistics(hidden, weight, targets, bias=bias, chunk_size=16, compile=True)
    _assert_stats_match(compiled, _full_reference(hidden, weight, bias, targets))



@pytest.mark.parametrize("chunk_size", [1, 5, None])
def test_logit_statistics_of_masked_positions_equal_full_log_softmax(chunk_size):
    """Logits a model already returned ([B, T, V], a non-contiguous shifted view), only the masked positions."""
    torch.manual_seed(3)
    b, t, v = 3, 9, 500
    hidden, weight, bias = torch.randn(b * t, 16), torch.randn(v, 16) * 2, torch.randn(v)
    logits = (hidden @ weight.T + bias).reshape(b, t, v)
    labels = torch.randint(0, v, (b, t))
    labels[:, :3] = -100                                   # prompt positions: not targets
    labels[0, 4] = int(logits[0, 3].argmax())              # one top-1 target
    before = logits.clone()
    shifted_logits, shifted_labels = logits[:, :-1], labels[:, 1:]
    mask = shifted_labels != -100
    stats = logit_statistics(shifted_logits, shifted_labels, mask, chunk_size=chunk_size)
    # the same positions in row-major order, through the hidden-state path's independent reference
    rows = torch.arange(b * t).reshape(b, t)[:, :-1][mask]
    _assert_stats_match(stats, _full_reference(hidden[rows], weight, bias, shifted_labels[mask]))
    assert bool(stats["is_top1"].any()) and torch.equal(logits, before)   # the caller's logits are untouched


def test_logit_statistics_of_bf16_logits_are_fp32_and_all_positions_by_default():
    torch.manual_seed(4)
    logits = (torch.randn(6, 40) * 5).to(torch.bfloat16)
    targets = torch.randint(0, 40, (6,))
    stats = logit_statistics(logits, targets)
    reference = logits.double().log_softmax(-1)
    assert stats["logp"].dtype == torch.float32 and stats["logp"].shape == (6,)
    assert torch.allclose(stats["logp"].double(), reference.gather(1, targets[:, None])[:, 0], atol=1e-5)
    assert torch.allclose(stats["entropy"].double(), -(reference.exp() * reference).sum(1), atol=1e-5)
    empty = logit_statistics(logits, targets, torch.zeros(6, dtype=torch.bool))
    assert all(x.shape == (0,) for x in empty.values())

# ---- probe_examples: columns against the model's own forward ------------------------------------------
def _assert_table_matches_reference(table, reference, atol=1e-5):
    assert table.schema == schema.token_schema()
    assert len(table) == len(reference)
    for row in table.iter_rows(named=True):
        ref = reference[(row[schema.EXAMPLE_ID], row[schema.POSITION])]
        for column in (schema.TOKEN_ID, schema.RANK, schema.IS_TOP1, schema.ROLE):
            assert row[column] == ref[column], (column, row)
        for column in STAT_COLUMNS:
            # rel_tol: a log p of -30 comes from logits of ~30, whose fp32 rounding differs between matmul shapes
            assert math.isclose(row[column], ref[column], rel_tol=1e-6, abs_tol=atol), (
                column, row[column], ref[column])


def test_probe_rows_equal_full_forward_reference(tmp_path):
    model = tiny_llama()
    examples = random_examples(9, 300) + greedy_examples(model, 3)
    summary = probe_examples(model, None, examples, tmp_path, run="sft", step=7, batch_size=1, shard_size=5)
    table = read_probe_table(tmp_path)
    _assert_table_matches_reference(table, reference_rows(model, examples))
    assert set(table[schema.RUN]) == {"sft"} and set(table[schema.STEP]) == {7}
    assert summary.tokens == len(table) == sum(sum(ex.target_mask[1:]) for ex in examples)
    assert summary.shards == 3 and not summary.already_done
    marker = json.loads((tmp_path / runs.PROBE_DONE).read_text())
    assert marker["tokens"] == len(table) and marker["schema_version"] == schema.SCHEMA_VERSION
    assert table[schema.P].min() < 1e-6 and table[schema.P].max() > 0.5   # p spans decades
    assert table[schema.IS_TOP1].sum() >= 3                                # the greedy replies


def test_padded_length_bucketed_batches_match_reference(tmp_path):
    model = tiny_llama()
    examples = random_examples(20, 300, seed=3)
    probe_examples(model, None, examples, tmp_path, run="r", step=0, batch_size="auto", progress=False)
    # Padding changes the body's matmul shapes, hence its fp32 rounding: logits of size ~30 move by ~1e-5.
    _assert_table_matches_reference(read_probe_table(tmp_path), reference_rows(model, examples), atol=1e-4)


def test_bf16_model_statistics_in_fp32(tmp_path):
    model = tiny_llama().to(torch.bfloat16)
    examples = random_examples(6, 300, seed=4)
    probe_examples(model, None, examples, tmp_path, run="r", step=0, batch_size=1, progress=False)
    table = read_probe_table(tmp_path)
    # Same bf16 logits as the model's own forward; the statistics of those logits exact to fp32.
    _assert_table_matches_reference(table, reference_rows(model, examples))
    assert table[schema.ENTROPY].is_finite().all() and (table[schema.SUM_P2] > 0).all()


def test_dtype_option_converts_the_model(tmp_path):
    model = tiny_llama()
    probe_examples(model, None, random_examples(3, 300), tmp_path, run="r", step=0, dtype="bfloat16", progress=False)
    assert model.dtype == torch.bfloat16


def test_token_strings_are_readable(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, **{t: i + 1 for i, t in enumerate(["Ġthe", "Ġcat", "Ġsat", "!", "Ã©", "ĊĊ"])}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.ByteLevel(), decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
    ids = [1, 2, 3, 4, 5, 6]
    example = EncodedExample("e", ids, [True] * 6, None)
    probe_examples(tiny_llama(vocab_size=7), tokenizer, [example], tmp_path, run="r", step=0, progress=False)
    assert read_probe_table(tmp_path)[schema.TOKEN].to_list() == [" cat", " sat", "!", "é", "\n\n"]


# ---- shards, resume, rerun --------------------------------------------------------------------------------
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, monkeypatch):
    model, examples = tiny_llama(), random_examples(30, 300, seed=5)
    options = dict(run="sft", step=3, shard_size=4, progress=False)
    probe_examples(model, None, examples, tmp_path / "whole", **options)

    real_write, written = api.write_shard, []

    def killed_after_three_shards(frame, path):
        if len(written) == 3:
            raise KeyboardInterrupt("simulated kill")
        real_write(frame, path)
        written.append(path.name)

    monkeypatch.setattr(api, "write_shard", killed_after_three_shards)
    with pytest.raises(KeyboardInterrupt):
        probe_examples(model, None, examples, tmp_path / "resumed", **options)
    assert not (tmp_path / "resumed" / runs.PROBE_DONE).exists()
    assert runs.Run(tmp_path).probed_steps() == []
    assert not [p for p in (tmp_path / "resumed").iterdir() if p.name.endswith(".tmp")]

    monkeypatch.setattr(api, "write_shard", lambda frame, path: (written.append(path.name), real_write(frame, path)))
    probe_examples(model, None, examples, tmp_path / "resumed", **options)
    assert len(written) == 8 and len(set(written)) == 8            # the 3 finished shards were not redone
    assert read_probe_table(tmp_path / "resumed").equals(read_probe_table(tmp_path / "whole"))


def test_rerun_on_finished_directory_is_a_no_op(tmp_path, monkeypatch):
    model, examples = tiny_llama(), random_examples(5, 300)
    first = probe_examples(model, None, examples, tmp_path, run="r", step=1, progress=False)
    files = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    monkeypatch.setattr(api, "write_shard", lambda *a: pytest.fail("rerun wrote a shard"))
    monkeypatch.setattr(runs, "write_text_atomic", lambda *a: pytest.fail("rerun wrote a file"))
    again = probe_examples(model, None, examples, tmp_path, run="r", step=1, progress=False)
    assert again.already_done and again.tokens == first.tokens
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == files


def test_probe_dir_of_other_examples_is_refused(tmp_path):
    model = tiny_llama()
    probe_examples(model, None, random_examples(5, 300), tmp_path, run="r", step=1, progress=False)
    with pytest.raises(ProbscopeError, match="other examples"):
        probe_examples(model, None, random_examples(5, 300, seed=9), tmp_path, run="r", step=1, progress=False)


def test_marker_makes_step_visible_to_runs(tmp_path):
    run = runs.Run(tmp_path / "sft")
    probe_examples(tiny_llama(), None, random_examples(3, 300), run.probe_dir(5), run="sft", step=5, progress=False)
    assert run.probed_steps() == [5]


# ---- bad input ------------------------------------------------------------------------------------------
def test_empty_example_list_is_a_clear_error(tmp_path):
    with pytest.raises(ProbscopeError, match="empty"):
        probe_examples(tiny_llama(), None, [], tmp_path, run="r", step=0)


def test_example_without_targets_is_counted_and_others_probed(tmp_path, caplog):
    examples = random_examples(4, 300)
    examples.append(EncodedExample("no-reply", [5, 6, 7], [False, False, False], None))
    summary = probe_examples(tiny_llama(), None, examples, tmp_path, run="r", step=0, progress=False)
    assert "1 examples have no target token" in caplog.text
    assert summary.no_targets == 1
    assert "no-reply" not in set(read_probe_table(tmp_path)[schema.EXAMPLE_ID])


def test_only_empty_replies_is_a_clear_error(tmp_path):
    examples = [EncodedExample("a", [1, 2], [True, False], None)]   # position 0 has nothing to predict it
    with pytest.raises(ProbscopeError, match="no target token"):
        probe_examples(tiny_llama(), None, examples, tmp_path, run="r", step=0, progress=False)
    assert not (tmp_path / runs.PROBE_DONE).exists()


def test_too_long_examples_truncate_with_count_or_drop(tmp_path, caplog):
    model = tiny_llama(context=16)
    examples = [EncodedExample("long", list(range(30)), [i >= 2 for i in range(30)], None),
                EncodedExample("short", list(range(10)), [i >= 2 for i in range(10)], None)]
    summary = probe_examples(model, None, examples, tmp_path / "cut", run="r", step=0, progress=False)
    assert "1 examples longer than the model's context (16 tokens) were truncated" in caplog.text
    table = read_probe_table(tmp_path / "cut")
    assert summary.truncated == 1 and table.filter(pl.col(schema.EXAMPLE_ID) == "long")[schema.POSITION].max() == 15
    cut = EncodedExample("long", list(range(16)), [i >= 2 for i in range(16)], None)
    _assert_table_matches_reference(table, reference_rows(model, [cut, examples[1]]), atol=1e-4)   # padded batch

    summary = probe_examples(model, None, examples, tmp_path / "drop", run="r", step=0, overflow="drop", progress=False)
    assert "1 examples longer than the model's context (16 tokens) were dropped" in caplog.text
    assert summary.dropped == 1 and set(read_probe_table(tmp_path / "drop")[schema.EXAMPLE_ID]) == {"short"}


def test_out_of_memory_halves_the_batch_until_it_fits(tmp_path, monkeypatch):
    from probscope.probe import head

    real_body, widths = head.hidden_states, []

    def body_that_fits_two_examples(model, input_ids, attention_mask):
        widths.append(input_ids.shape[0])
        if input_ids.shape[0] > 2:
            raise torch.OutOfMemoryError("simulated")
        return real_body(model, input_ids, attention_mask)

    monkeypatch.setattr(head, "hidden_states", body_that_fits_two_examples)
    model, examples = tiny_llama(), random_examples(9, 300, seed=8)
    probe_examples(model, None, examples, tmp_path / "ok", run="r", step=0, batch_size=8, progress=False)
    assert widths[:3] == [1, 8, 4] and set(widths[3:]) <= {1, 2}   # 1: the head check, then 8 -> 4 -> 2
    _assert_table_matches_reference(read_probe_table(tmp_path / "ok"), reference_rows(model, examples), atol=1e-4)

    def no_batch_fits(model, input_ids, attention_mask):
        if attention_mask is not None:   # batches pass a mask; the head check (one short sequence) does not
            raise torch.OutOfMemoryError("simulated")
        return real_body(model, input_ids, attention_mask)

    monkeypatch.setattr(head, "hidden_states", no_batch_fits)
    with pytest.raises(ProbscopeError, match="out of memory on a single example"):
        probe_examples(model, None, examples[:1], tmp_path / "never", run="r", step=0, progress=False)


def test_nan_logits_stop_naming_example_and_step(tmp_path):
    model = tiny_llama()
    examples = random_examples(6, 300)
    with torch.no_grad():
        model.lm_head.weight[17, 0] = float("nan")
    with pytest.raises(ProbscopeError, match=r"example ex\d+ .* at step 4: .*NaN or inf"):
        probe_examples(model, None, examples, tmp_path, run="r", step=4, progress=False)
    assert runs.Run(tmp_path).probed_steps() == [] and not (tmp_path / runs.PROBE_DONE).exists()


def test_token_ids_outside_vocabulary_are_refused(tmp_path):
    with pytest.raises(ProbscopeError, match="id bad.*outside the model's vocabulary"):
        probe_examples(tiny_llama(), None, [EncodedExample("bad", [1, 999], [False, True], None)], tmp_path,
                       run="r", step=0)


def test_model_with_unknown_logit_transform_is_refused(tmp_path):
    from transformers import LlamaForCausalLM

    class Scaled(LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 3
            return out

    model = tiny_llama()
    model.__class__ = Scaled
    with pytest.raises(ProbscopeError, match="not the LM head applied to the final hidden state"):
        probe_examples(model, None, random_examples(3, 300), tmp_path, run="r", step=0, progress=False)


def test_gemma2_softcap_from_config_matches_its_forward(tmp_path):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=200, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2,
                          num_key_value_heads=1, head_dim=16, final_logit_softcapping=2.0, initializer_range=0.3)
    model = Gemma2ForCausalLM(config).eval()
    examples = random_examples(4, 200)
    probe_examples(model, None, examples, tmp_path, run="r", step=0, batch_size=1, progress=False)
    _assert_table_matches_reference(read_probe_table(tmp_path), reference_rows(model, examples))


# ---- loading checkpoints --------------------------------------------------------------------------------
def test_probe_checkpoint_loads_model_and_tokenizer(tmp_path):
    model = save_checkpoint(tmp_path / "ckpt")
    examples = random_examples(4, 300)
    summary = probe_checkpoint(tmp_path / "ckpt", examples, tmp_path / "out", run="r", step=2, progress=False)
    table = read_probe_table(tmp_path / "out")
    assert summary.model == str(tmp_path / "ckpt")
    assert table[schema.TOKEN].to_list() == [f"w{i}" if i else "[UNK]" for i in table[schema.TOKEN_ID]]
    _assert_table_matches_reference(table, reference_rows(model, examples))


def test_probe_checkpoint_on_a_non_model_path_names_it(tmp_path):
    with pytest.raises(ProbscopeError, match=f"{tmp_path}: not a model directory"):
        probe_checkpoint(tmp_path, random_examples(2, 300), tmp_path / "out", run="r", step=0)


def test_read_probe_table_errors_name_the_path(tmp_path):
    with pytest.raises(ProbscopeError, match="does not exist"):
        read_probe_table(tmp_path / "nope")
    with pytest.raises(ProbscopeError, match="no probe shards"):
        read_probe_table(tmp_path)


# ---- command line ---------------------------------------------------------------------------------------
def test_cli_probes_a_text_file_outside_a_run(tmp_path, capsys):
    from probscope.cli import main

    checkpoint = tmp_path / "myrun" / runs.CHECKPOINTS / runs.step_dir_name(10)
    save_checkpoint(checkpoint)
    lines = ["w5 w9 w13 w2", "w7 w7 w8", "w250 w3"]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"text": line}) + "\n" for line in lines))
    argv = ["probe", "--model", str(checkpoint), "--data", str(tmp_path / "data.jsonl"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    table = read_probe_table(tmp_path / "out")
    assert set(table[schema.RUN]) == {"myrun"} and set(table[schema.STEP]) == {10}
    assert len(table) == sum(len(line.split()) - 1 for line in lines)   # a text row: every token but the first
    assert sorted(table[schema.TOKEN]) == sorted(word for line in lines for word in line.split()[1:])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("probscope probe: probed 6 tokens of 3 examples")
    assert main(argv) == 0 and "already probed" in capsys.readouterr().out


def test_cli_bad_model_path_is_one_line_exit_2(tmp_path, capsys):
    from probscope.cli import main

    (tmp_path / "data.jsonl").write_text('{"text": "a b"}\n')
    assert main(["probe", "--model", str(tmp_path / "nope"), "--data", str(tmp_path / "data.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "nope") in err



@pytest.mark.parametrize("flag, value, message", [
    ("--shard-size", "0", "--shard-size: 0 is not a positive integer"),
    ("--limit", "-2", "--limit: -2 is not a positive integer"),
    ("--chunk-size", "0", "--chunk-size: 0 is not a positive integer"),
    ("--batch-size", "many", "--batch-size: 'many' is not 'auto' or a positive integer"),
    ("--batch_size", "0", "--batch-size: '0' is not 'auto' or a positive integer"),
])
def test_cli_bad_numbers_are_one_line_errors_naming_the_flag(tmp_path, capsys, flag, value, message):
    from probscope.cli import main

    (tmp_path / "data.jsonl").write_text('{"text": "a b"}\n')
    argv = ["probe", "--model", str(tmp_path), "--data", str(tmp_path / "data.jsonl"), "--out", str(tmp_path / "o")]
    assert main([*argv, flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"probscope probe: error: {message}"


def test_cli_flags_come_from_probe_config_in_both_spellings(tmp_path):
    import dataclasses

    from probscope.cli import build_parser
    from probscope.probe import ProbeConfig, ProbeOptions

    required = ["probe"]
    args = build_parser().parse_args(required)
    flags = [f for f in dataclasses.fields(ProbeConfig) if f.metadata.get("flag", True)]
    assert {f.name for f in flags} >= {"batch_size", "device", "dtype", "shard_size", "compile", "limit", "run", "step",
                                       "model", "out", "dataset", "run_name", "tokenizer", "trust_remote_code"}
    for f in flags:   # the parser's defaults are the dataclass's; fields without one are required flags
        assert getattr(args, f.name) == (f.default if f.default is not dataclasses.MISSING else f.name[0]), f.name
    assert args.trust_remote_code is False
    assert build_parser().parse_args([*required, "--trust-remote-code"]).trust_remote_code is True
    for spelling in ("--shard-size", "--shard_size"):
        assert build_parser().parse_args([*required, spelling, "7"]).shard_size == 7
    assert ProbeOptions(batch_size="8", compile="off").options()["batch_size"] == 8
    assert ProbeOptions(compile="on").compile is True and ProbeOptions().compile == "auto"
    with pytest.raises(ProbscopeError, match="overflow='cut': use 'truncate' or 'drop'"):
        ProbeOptions(overflow="cut")
    with pytest.raises(ProbscopeError, match="max_length: 0 is not a positive integer"):
        probe_examples(tiny_llama(), None, random_examples(2, 300), tmp_path, run="r", step=0, max_length=0)

# ---- real files (skip without ../shared/real) -------------------------------------------------------------
def _peak_rss_during(fn) -> int | None:
    """Extra resident memory (bytes) at the peak of fn(), on Linux with glibc; else None (fn still runs).

    The kernel's peak-RSS counter is reset through /proc/self/clear_refs. glibc's mmap threshold is
    pinned at 1 MiB first: by default it grows with freed blocks, after which [chunk, vocab] blocks come
    from the heap and fragment it, so RSS would measure what earlier tests left behind rather than the
    engine's working set.
    """
    import ctypes

    try:
        pinned = ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)   # M_MMAP_THRESHOLD
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except (OSError, AttributeError):
        pinned = 0
    if not pinned:
        fn()
        return None

    def vm(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

    before = vm("VmRSS:")
    fn()
    return vm("VmHWM:") - before


def test_qwen2_151k_vocabulary_with_the_real_tokenizer(real_dir, tmp_path):
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from probscope.data import DataFormat, encode_file

    tokenizer = AutoTokenizer.from_pretrained(real_dir / "tokenizers" / "qwen2.5-math-1.5b")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=151_936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).eval()
    examples = encode_file(real_dir / "data" / "gsm8k_train_first500.jsonl", tokenizer, DataFormat(), limit=10)
    n_targets = sum(sum(ex.target_mask[1:]) for ex in examples)
    peak = _peak_rss_during(lambda: probe_examples(model, tokenizer, examples, tmp_path, run="qwen", step=0,
                                                   progress=False))
    table = read_probe_table(tmp_path)
    assert len(table) == n_targets > 500
    if peak is not None:   # bounded by a few [chunk, vocab] blocks, whatever the number of tokens
        block = default_chunk_size(151_936) * 151_936 * 4
        assert peak < 6 * block < n_targets * 151_936 * 4 / 4, f"peak {peak / 2**20:.0f} MiB"
    # readable strings: byte-level markers decoded, and each reply reads back as the tokenizer decodes it
    assert not table[schema.TOKEN].str.contains("Ġ|Ċ").any()
    for ex in examples:
        rows = table.filter(pl.col(schema.EXAMPLE_ID) == ex.example_id).sort(schema.POSITION)
        assert "".join(rows[schema.TOKEN]) == tokenizer.decode(rows[schema.TOKEN_ID].to_list())
    assert "<|im_end|>" in set(table[schema.TOKEN])   # the end-of-turn target, as its special-token text
    first = examples[:2]   # the float64 reference holds full logits: keep it small
    _assert_table_matches_reference(table.filter(pl.col(schema.EXAMPLE_ID).is_in([ex.example_id for ex in first])),
                                    reference_rows(model, first))


def test_real_stories260k_model(real_dir, tmp_path):
    from probscope.data import DataFormat, encode_records
    from probscope.probe import load_tokenizer

    model_dir = real_dir / "models" / "stories260K"
    tokenizer = load_tokenizer(model_dir)
    story = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
             "One day, she saw a big, red ball.")   # the model's own greedy continuation (llama2c_doc_stories260K.md)
    examples = encode_records([{"text": story}, {"text": "Lily's mom said, \"Lily, let's go to the park.\""}],
                              tokenizer, DataFormat(kind="text"))
    summary = probe_checkpoint(model_dir, examples, tmp_path, run="stories", step=0, progress=False)
    table = read_probe_table(tmp_path)
    assert summary.tokens == len(table) == sum(len(ex.input_ids) - 1 for ex in examples)
    story_rows = table.filter(pl.col(schema.EXAMPLE_ID) == examples[0].example_id)
    assert story_rows[schema.IS_TOP1].mean() > 0.8 and story_rows[schema.P].median() > 0.5   # a trained model
    assert story_rows[schema.TOKEN].to_list()[:4] == [" Once", " upon", " a", " time"]   # after BOS
    from transformers import AutoModelForCausalLM

    reference = reference_rows(AutoModelForCausalLM.from_pretrained(model_dir).eval(), examples)
    _assert_table_matches_reference(table, reference)


def test_scan_reads_shards_in_order_and_checks_their_schema(tmp_path):
    from probscope.probe import scan_probe_table

    probe_examples(tiny_llama(), None, random_examples(9, 300), tmp_path, run="r", step=0, shard_size=2, progress=False)
    in_shard_order = [pl.read_parquet(tmp_path / f"part-000-{i:06d}.parquet") for i in range(5)]
    assert read_probe_table(tmp_path).equals(pl.concat(in_shard_order))
    assert scan_probe_table(tmp_path).select(schema.P).collect().equals(pl.concat(in_shard_order).select(schema.P))
    stray = tmp_path / "part-000-000099.parquet"
    pl.DataFrame({"p": [0.5]}).write_parquet(stray)
    with pytest.raises(ProbscopeError, match="shard part-000-000099.parquet is not part of the finished probe"):
        read_probe_table(tmp_path)
    with pytest.raises(ProbscopeError, match="part-000-000099.parquet: columns \\['p'\\] differ from probe schema"):
        read_probe_table(stray)


def test_a_shard_mixing_examples_with_and_without_roles_keeps_both(tmp_path):
    """Rows without roles (or token strings: no tokenizer) before rows with them: polars must still get strings."""
    model = tiny_llama()
    examples = random_examples(6, 300, with_roles=False) + random_examples(2, 300, seed=1)[:1]
    probe_examples(model, None, examples, tmp_path, run="r", step=0, batch_size=1)
    table = read_probe_table(tmp_path)
    assert table[schema.TOKEN].null_count() == len(table)
    assert 0 < table[schema.ROLE].null_count() < len(table)
