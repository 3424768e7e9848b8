"""The probe stage under bad input and faults: every bad file, flag or folder is one line naming it and what to
do; a probe killed with SIGKILL and rerun ends with the uninterrupted run's table; `probscope probe --run`.

    .venv/bin/pytest tests/probe/test_probe_reliability.py            # -m bad_input / -m fault for one kind
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
import torch
from conftest import REPO
from helpers import kill_when, random_examples, reference_rows, save_checkpoint, tiny_llama, word_tokenizer

from probscope import runs, schema
from probscope.errors import ProbscopeError
from probscope.probe import probe_examples, read_probe_table
from probscope.probe.table import SHARD_VERSION_KEY, shard_record

TESTS = Path(__file__).parent
REPAIR = "delete the folder and re-run `probscope probe` to repair it"
PROBE = dict(run="r", step=3, shard_size=2, progress=False)


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished probe directory: 7 examples in 4 shards of 2 (copy it before damaging it)."""
    out = tmp_path_factory.mktemp("finished") / "probe"
    probe_examples(tiny_llama(), None, random_examples(7, 300), out, **PROBE)
    return out


@pytest.fixture
def table_dir(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "probe"))


def one_line_error(call, pattern: str) -> str:
    """call() raises ProbscopeError with a one-line message matching `pattern` (re.search)."""
    with pytest.raises(ProbscopeError) as caught:
        call()
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert re.search(pattern, message), message
    return message


def cli_error(argv: list[str], capsys, pattern: str) -> str:
    """`probscope ARGV` exits 2 with a last stderr line 'probscope probe: error: ...' matching `pattern`."""
    from probscope.cli import main

    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("probscope probe: error: "), last
    assert re.search(pattern, last), last
    return last


def marker(probe_dir: Path) -> dict:
    return json.loads((probe_dir / runs.PROBE_DONE).read_text())


def write_marker(probe_dir: Path, raw) -> None:
    (probe_dir / runs.PROBE_DONE).write_text(raw if isinstance(raw, str) else json.dumps(raw))


def rewrite_shard(probe_dir: Path, name: str, frame: pl.DataFrame, version: int = schema.SCHEMA_VERSION) -> Path:
    """Replace a shard and record the new file in the marker, as a probscope writing `version` would."""
    path = probe_dir / name
    frame.write_parquet(path, metadata={SHARD_VERSION_KEY: str(version)})
    raw = marker(probe_dir)
    raw["files"] = [shard_record(path) if f["name"] == name else f for f in raw["files"]]
    write_marker(probe_dir, raw)
    return path


SHARD = "part-000-000001.parquet"


# ---- readers check the table against its completion marker ----------------------------------------------
@pytest.mark.bad_input
def test_a_deleted_shard_is_named(table_dir):
    (table_dir / SHARD).unlink()
    one_line_error(lambda: read_probe_table(table_dir),
                   f"^{re.escape(str(table_dir))}: shard {SHARD} is missing \\(the marker lists 4\\); "
                   f"{re.escape(REPAIR)}$")


@pytest.mark.bad_input
def test_an_emptied_shard_file_is_named(table_dir):
    (table_dir / SHARD).write_bytes(b"")
    one_line_error(lambda: read_probe_table(table_dir), f"shard {SHARD} is empty \\(0 bytes; it held \\d+ rows\\)")


@pytest.mark.bad_input
def test_a_shard_replaced_by_zero_rows_is_named(table_dir):
    rows = marker(table_dir)["files"][1]["rows"]
    pl.read_parquet(table_dir / SHARD).head(0).write_parquet(table_dir / SHARD)
    one_line_error(lambda: read_probe_table(table_dir), f"shard {SHARD} was replaced or modified after the probe "
                                                        f"finished \\(it holds 0 rows, the marker says {rows}\\)")


@pytest.mark.bad_input
def test_a_shard_with_changed_values_and_the_same_rows_is_named(table_dir):
    frame = pl.read_parquet(table_dir / SHARD)
    frame.with_columns(pl.col(schema.P) * 0.5).write_parquet(table_dir / SHARD)
    one_line_error(lambda: read_probe_table(table_dir),
                   f"shard {SHARD} was replaced or modified after the probe finished")


@pytest.mark.bad_input
def test_an_extra_shard_is_named(table_dir):
    shutil.copy(table_dir / "part-000-000000.parquet", table_dir / "part-001-000004.parquet")
    one_line_error(lambda: read_probe_table(table_dir),
                   f"shard part-001-000004.parquet is not part of the finished probe .*; {re.escape(REPAIR)}$")


@pytest.mark.bad_input
@pytest.mark.parametrize("raw, pattern", [
    ("{not json", "unreadable completion marker \\(Expecting property name"),
    ("[1, 2]", "the completion marker is not a JSON object"),
    ({"schema_version": "1"}, "schema version '1' is not a positive integer"),
    ({"schema_version": 1, "files": [{"name": "part-000-000000.parquet"}]}, "its 'files' list is malformed"),
], ids=["invalid-json", "a-list", "version-a-string", "files-malformed"])
def test_a_corrupt_marker_is_named(table_dir, raw, pattern):
    write_marker(table_dir, raw)
    message = one_line_error(lambda: read_probe_table(table_dir), pattern)
    assert str(table_dir) in message and REPAIR in message


@pytest.mark.bad_input
def test_a_table_of_a_newer_schema_is_refused(table_dir):
    write_marker(table_dir, {**marker(table_dir), "schema_version": schema.SCHEMA_VERSION + 1})
    one_line_error(lambda: read_probe_table(table_dir),
                   f"^{re.escape(str(table_dir))}: probe table schema v{schema.SCHEMA_VERSION + 1} is newer than this "
                   f"probscope's v{schema.SCHEMA_VERSION}; upgrade probscope to read it$")


@pytest.mark.bad_input
def test_a_shard_of_a_newer_schema_is_refused(table_dir):
    path = rewrite_shard(table_dir, SHARD, pl.read_parquet(table_dir / SHARD), version=schema.SCHEMA_VERSION + 1)
    one_line_error(lambda: read_probe_table(table_dir),
                   f"^{re.escape(str(path))}: probe table schema v{schema.SCHEMA_VERSION + 1} is newer")


@pytest.mark.bad_input
def test_a_shard_without_a_column_names_the_shard_and_the_column(table_dir):
    path = rewrite_shard(table_dir, SHARD, pl.read_parquet(table_dir / SHARD).drop(schema.ENTROPY))
    one_line_error(lambda: read_probe_table(table_dir),
                   f"^{re.escape(str(path))}: columns .* differ from probe schema v1 \\(column 'entropy' is missing\\)")


@pytest.mark.bad_input
def test_a_shard_with_a_column_of_another_type_names_it(table_dir):
    path = rewrite_shard(table_dir, SHARD,
                         pl.read_parquet(table_dir / SHARD).with_columns(pl.col(schema.P).cast(pl.Float32)))
    one_line_error(lambda: read_probe_table(table_dir),
                   f"^{re.escape(str(path))}: .*\\(column 'p' is Float32, not Float64\\)")


@pytest.mark.bad_input
def test_a_file_that_is_not_parquet_is_named(tmp_path):
    bad = tmp_path / "tokens.parquet"
    bad.write_bytes(os.urandom(300))
    one_line_error(lambda: read_probe_table(bad), f"^{re.escape(str(bad))}: not a readable Parquet file")


@pytest.mark.bad_input
def test_an_unfinished_directory_is_not_read_as_a_table(table_dir):
    (table_dir / runs.PROBE_DONE).unlink()
    one_line_error(lambda: read_probe_table(table_dir),
                   "an unfinished probe \\(no _DONE.json\\); re-run `probscope probe`")


def _as_written_before_shard_lists(probe_dir: Path) -> None:
    """The marker as probscope wrote it before it listed the shards (and shards without a schema version)."""
    write_marker(probe_dir, {k: v for k, v in marker(probe_dir).items() if k != "files"})


def test_a_table_written_before_shard_lists_is_read_and_migrated_by_a_rerun(finished, table_dir):
    _as_written_before_shard_lists(table_dir)
    assert read_probe_table(table_dir).equals(read_probe_table(finished))
    again = probe_examples(tiny_llama(), None, random_examples(7, 300), table_dir, **PROBE)
    assert again.already_done and marker(table_dir)["files"] == marker(finished)["files"]   # migrated


@pytest.mark.bad_input
def test_an_old_table_whose_rows_do_not_add_up_is_refused(table_dir):
    _as_written_before_shard_lists(table_dir)
    tokens = marker(table_dir)["tokens"]
    pl.read_parquet(table_dir / SHARD).head(1).write_parquet(table_dir / SHARD)
    one_line_error(lambda: read_probe_table(table_dir), f"its shards hold [\\d,]+ rows, the marker says {tokens:,}; ")


@pytest.mark.bad_input
def test_an_old_table_missing_a_shard_is_refused(table_dir):
    _as_written_before_shard_lists(table_dir)
    (table_dir / SHARD).unlink()
    one_line_error(lambda: read_probe_table(table_dir), "shard 1 is missing \\(the marker counts 4\\)")


def test_load_tokens_reads_checked_tables(tmp_path):
    """The analysis reads through the same check: a damaged run is an error, not a smaller figure."""
    import probscope as ps

    run = runs.Run(tmp_path / "sft")
    run.root.mkdir()
    run.write_manifest(runs.Manifest(name="sft", method="sft", status="finished"))
    probe_examples(tiny_llama(), None, random_examples(7, 300), run.probe_dir(3), **{**PROBE, "run": "sft"})
    assert len(ps.load_tokens(tmp_path)) == marker(run.probe_dir(3))["tokens"]
    (run.probe_dir(3) / SHARD).unlink()
    one_line_error(lambda: ps.load_tokens(tmp_path), f"shard {SHARD} is missing")


# ---- the probe meets a damaged directory when it resumes ----------------------------------------------------
def _unfinished(table_dir: Path) -> Path:
    (table_dir / runs.PROBE_DONE).unlink()
    return table_dir


def _probe_again(out: Path):
    return lambda: probe_examples(tiny_llama(), None, random_examples(7, 300), out, **PROBE)


@pytest.mark.bad_input
@pytest.mark.parametrize("text", ["{half", '{"started": 1}'], ids=["invalid-json", "no-fingerprint"])
def test_a_corrupt_plan_is_named_when_resuming(table_dir, text):
    out = _unfinished(table_dir)
    (out / runs.PROBE_PLAN).write_text(text)
    one_line_error(_probe_again(out), f"^{re.escape(str(out / runs.PROBE_PLAN))}: unreadable probe plan .*; "
                                      f"delete {re.escape(str(out))} to restart the probe$")


@pytest.mark.bad_input
def test_a_corrupt_shard_is_named_when_resuming(table_dir):
    out = _unfinished(table_dir)
    (out / SHARD).write_bytes(os.urandom(2000))
    one_line_error(_probe_again(out), f"^{re.escape(str(out / SHARD))}: not a readable Parquet file .*; "
                                      f"delete {re.escape(str(out))} to restart the probe$")


@pytest.mark.bad_input
def test_a_corrupt_marker_is_named_when_rerunning(table_dir):
    write_marker(table_dir, "{")
    one_line_error(_probe_again(table_dir),
                   f"{re.escape(str(table_dir / runs.PROBE_DONE))}: unreadable completion marker")


@pytest.mark.bad_input
def test_a_damaged_finished_table_is_not_reported_as_already_probed(table_dir):
    (table_dir / SHARD).unlink()
    one_line_error(_probe_again(table_dir), f"shard {SHARD} is missing .*; {re.escape(REPAIR)}$")


@pytest.mark.bad_input
def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    one_line_error(_probe_again(tmp_path / "out"), "out: is a file, not a directory; choose another output directory$")
    one_line_error(_probe_again(tmp_path / "out" / "probe"), "cannot create the output directory \\(Not a directory\\)")


# ---- loading models ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A tiny checkpoint (vocabulary 50, 2 layers) with its tokenizer; copy it before damaging it."""
    path = tmp_path_factory.mktemp("saved") / "ckpt"
    save_checkpoint(path, vocab_size=50)
    return path


@pytest.fixture
def checkpoint(saved, tmp_path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "ckpt"))


def _load(path, **options):
    from probscope.models import load_causal_lm

    return lambda: load_causal_lm(path, **options)


def _edit_config(path: Path, **changes) -> None:
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.bad_input
@pytest.mark.parametrize("damage", ["truncated", "random", "empty"])
def test_a_broken_safetensors_file_is_named(checkpoint, damage):
    weights = checkpoint / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncated": data[:len(data) // 2], "random": os.urandom(4096), "empty": b""}[damage])
    one_line_error(_load(checkpoint),
                   f"^{re.escape(str(weights))}: not a valid safetensors file .*: truncated or corrupt")


@pytest.mark.bad_input
def test_a_config_vocabulary_other_than_the_weights_is_refused(checkpoint):
    _edit_config(checkpoint, vocab_size=60)
    one_line_error(_load(checkpoint), "config.json does not match model.safetensors: .*weight is \\[50, 32\\] "
                                      "there but \\[60, 32\\] per config.json")


@pytest.mark.bad_input
def test_a_config_with_more_layers_than_the_weights_is_refused(checkpoint):
    _edit_config(checkpoint, num_hidden_layers=3)   # transformers would fill layer 2 with random weights
    one_line_error(_load(checkpoint),
                   "9 weights the config asks for are not in model.safetensors \\(e.g. model.layers.2")


@pytest.mark.bad_input
def test_a_config_that_is_not_json_is_named(checkpoint):
    (checkpoint / "config.json").write_text("{vocab_size: 50")
    one_line_error(_load(checkpoint), f"^{re.escape(str(checkpoint / 'config.json'))}: not valid JSON")


def _with_own_code(checkpoint: Path) -> Path:
    """A checkpoint whose config maps to Python files of its own; running them leaves a file behind."""
    ran = checkpoint / "code-ran"
    (checkpoint / "configuration_mine.py").write_text(
        f"from pathlib import Path\nPath({str(ran)!r}).touch()\n"
        "from transformers import LlamaConfig\n\nclass MineConfig(LlamaConfig):\n    model_type = 'mine'\n")
    (checkpoint / "modeling_mine.py").write_text(
        "from transformers import LlamaForCausalLM\nfrom .configuration_mine import MineConfig\n\n"
        "class MineForCausalLM(LlamaForCausalLM):\n    config_class = MineConfig\n")
    _edit_config(checkpoint, model_type="mine", auto_map={"AutoConfig": "configuration_mine.MineConfig",
                                                          "AutoModelForCausalLM": "modeling_mine.MineForCausalLM"})
    return ran


@pytest.mark.bad_input
def test_a_models_own_code_runs_only_with_trust_remote_code(checkpoint):
    ran = _with_own_code(checkpoint)
    one_line_error(_load(checkpoint), "ships its own Python code; pass --trust-remote-code")
    assert not ran.exists()
    model = _load(checkpoint, trust_remote_code=True)()
    assert type(model).__name__ == "MineForCausalLM" and ran.exists()


def test_no_pickle_loading_in_probscope():
    """Model files come from the internet: torch.load only with weights_only=True, and no pickle anywhere."""
    offenders = []
    sources = list((REPO / "probscope").rglob("*.py"))
    assert len(sources) > 20                                   # the package, not an empty folder
    for path in sources:
        text = path.read_text()
        offenders += [f"{path}: {m.group(0)}" for m in re.finditer(r"torch\.load\([^)]*\)", text)
                      if "weights_only=True" not in m.group(0)]
        offenders += [f"{path}: pickle" for _ in re.finditer(r"^\s*(import|from) (c?pickle|dill|joblib)\b", text, re.M)]
    assert offenders == []


# ---- probscope probe --run ----------------------------------------------------------------------------------
LINES = ["w5 w9 w13 w2", "w7 w7 w8", "w250 w3 w17 w17 w4"]


@pytest.fixture
def run_dir(tmp_path) -> runs.Run:
    """A run of two checkpoints (steps 10 and 20) trained on sft-data.jsonl."""
    data = tmp_path / "sft-data.jsonl"
    data.write_text("".join(json.dumps({"text": line}) + "\n" for line in LINES))
    run = runs.Run(tmp_path / "runs" / "sft")
    for step, seed in ((10, 0), (20, 1)):
        tiny_llama(seed=seed).save_pretrained(run.checkpoint(step))
        word_tokenizer().save_pretrained(run.checkpoint(step))
    run.write_manifest(runs.Manifest(name="sft", method="sft", data=str(data), status="finished"))
    return run


def _cli(*argv: str) -> int:
    from probscope.cli import main

    return main(["probe", *argv])


def test_probe_run_probes_each_checkpoint_once_into_the_runs_layout(run_dir, tmp_path, capsys):
    data = tmp_path / "sft-data.jsonl"
    assert _cli("--run", str(run_dir.root)) == 0                     # its training data, from the manifest
    assert run_dir.probed_steps("train") == [10, 20]
    for step in (10, 20):   # each checkpoint's own model, named by the run and the folder's step
        model = tiny_llama(seed=step // 10 - 1)
        table = read_probe_table(run_dir.probe_dir(step))
        assert set(table[schema.RUN]) == {"sft"} and set(table[schema.STEP]) == {step}
        from probscope.data import DataFormat, encode_file

        examples = encode_file(data, word_tokenizer(), DataFormat())
        reference = reference_rows(model, examples)
        assert len(table) == len(reference)
        for row in table.iter_rows(named=True):
            assert row[schema.P] == pytest.approx(reference[(row[schema.EXAMPLE_ID], row[schema.POSITION])][schema.P],
                                                  rel=1e-5, abs=1e-9)
    out = capsys.readouterr().out
    assert "probed 2 checkpoint(s) (steps 10, 20), 0 already probed" in out

    tiny_llama(seed=2).save_pretrained(run_dir.checkpoint(30))      # a new checkpoint: only it is probed
    word_tokenizer().save_pretrained(run_dir.checkpoint(30))
    assert _cli("--run", str(run_dir.root), "--data", str(data)) == 0   # named: the same file, the same "train"
    assert "probed 1 checkpoint(s) (steps 30), 2 already probed" in capsys.readouterr().out
    assert run_dir.probed_steps("train") == [10, 20, 30]

    other = tmp_path / "gsm8k-test.jsonl"                            # another file: its own dataset name
    other.write_text(json.dumps({"text": "w1 w2 w3"}) + "\n")
    assert _cli("--run", str(run_dir.root), "--data", str(other)) == 0
    assert run_dir.probed_steps("gsm8k-test") == [10, 20, 30]


def test_probe_run_uses_the_manifests_tokenizer_for_bare_checkpoints(tmp_path):
    from probscope.runs.add import add_run

    tiny_llama(vocab_size=300).save_pretrained(tmp_path / "elsewhere" / "checkpoint-500")   # weights only
    word_tokenizer().save_pretrained(tmp_path / "tokenizer")
    run = add_run(tmp_path / "runs", "ext", method="dft", checkpoints=tmp_path / "elsewhere",
                  tokenizer=str(tmp_path / "tokenizer"))
    (tmp_path / "d.jsonl").write_text(json.dumps({"text": "w4 w8 w15"}) + "\n")
    assert _cli("--run", str(run.root), "--data", str(tmp_path / "d.jsonl"), "--dataset", "mine") == 0
    table = read_probe_table(run.probe_dir(500, "mine"))
    assert table[schema.TOKEN].to_list() == ["w8", "w15"] and set(table[schema.STEP]) == {500}


def test_probe_run_merges_a_lora_adapter_into_the_runs_base(tmp_path):
    from peft import LoraConfig, get_peft_model

    from probscope.data import DataFormat, encode_file
    from probscope.runs.add import add_run

    base = tmp_path / "base"
    save_checkpoint(base)
    torch.manual_seed(5)
    from transformers import AutoModelForCausalLM

    adapted = get_peft_model(AutoModelForCausalLM.from_pretrained(base),   # the adapter records its base's path
                             LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapted.save_pretrained(tmp_path / "lora" / "checkpoint-40")    # adapter_config.json + adapter weights only
    run = add_run(tmp_path / "runs", "lora", method="sft", checkpoints=tmp_path / "lora", base=str(base))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": line}) + "\n" for line in LINES))
    assert _cli("--run", str(run.root), "--data", str(data)) == 0
    merged = adapted.merge_and_unload().eval()
    examples = encode_file(data, word_tokenizer(), DataFormat())
    reference = reference_rows(merged, examples)
    table = read_probe_table(run.probe_dir(40, "d"))
    assert len(table) == len(reference)
    for row in table.iter_rows(named=True):
        assert row[schema.LOGP] == pytest.approx(reference[(row[schema.EXAMPLE_ID], row[schema.POSITION])][schema.LOGP],
                                                 rel=1e-5, abs=1e-5)
    base_only = reference_rows(tiny_llama(), examples)   # the adapter changed the model: not the base's numbers
    assert any(abs(row[schema.LOGP] - base_only[(row[schema.EXAMPLE_ID], row[schema.POSITION])][schema.LOGP]) > 1e-3
               for row in table.iter_rows(named=True))
    # one-off: the adapter folder itself, its base and tokenizer from adapter_config.json
    assert _cli("--model", str(tmp_path / "lora" / "checkpoint-40"), "--data", str(data),
                "--out", str(tmp_path / "o")) == 0
    columns = [c for c in schema.TOKEN_COLUMNS if c not in (schema.RUN, schema.STEP)]
    assert read_probe_table(tmp_path / "o").select(columns).equals(table.select(columns))


@pytest.mark.bad_input
@pytest.mark.parametrize("argv, pattern", [
    (["--data", "D", "--model", "m", "--run", "r"],
     "give either --run RUNS_DIR/NAME .* or --model PATH --out DIR .*, not both"),
    (["--data", "D"], "give either --run RUNS_DIR/NAME .*, one of them"),
    (["--run", "r", "--out", "o"], "--out: only with --model \\(a run's probes go to RUN/probes/DATASET/step-N"),
    (["--run", "r", "--step", "5"], "--step: only with --model"),
    (["--data", "D", "--model", "m", "--out", "o", "--dataset", "x"], "--dataset: only with --run$"),
    (["--data", "D", "--model", "m"], "--out: required with --model"),
    (["--model", "m", "--out", "o"], "--data: required with --model"),
], ids=["run-and-model", "neither", "out-with-run", "step-with-run", "dataset-with-model", "model-without-out",
        "model-without-data"])
def test_probe_flag_combinations(tmp_path, capsys, argv, pattern):
    cli_error(["probe", *(str(tmp_path / "d.jsonl") if arg == "D" else arg for arg in argv)], capsys, pattern)


@pytest.mark.bad_input
def test_probe_on_a_cuda_device_without_one(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cli_error(["probe", "--run", str(run_dir.root), "--data", str(tmp_path / "sft-data.jsonl"), "--device", "cuda"],
              capsys, "error: device='cuda': .*; use cpu \\(or auto\\)$")
    assert run_dir.probed_steps() == []


@pytest.mark.bad_input
def test_probe_run_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    cli_error(["probe", "--run", str(tmp_path), "--data", "d.jsonl"], capsys,
              f"{re.escape(str(tmp_path / runs.MANIFEST))}: missing; .* is not a probscope run")


@pytest.mark.bad_input
def test_probe_run_without_data_when_the_manifest_names_none(run_dir, capsys):
    run_dir.write_manifest(runs.Manifest(name="sft", method="sft", status="finished"))
    cli_error(["probe", "--run", str(run_dir.root)], capsys,
              f"{re.escape(str(run_dir.manifest_path))}: names no training data \\('data'\\); pass --data FILE$")


@pytest.mark.bad_input
def test_probe_run_without_checkpoints(tmp_path, capsys):
    run = runs.Run(tmp_path / "empty")
    run.root.mkdir()
    run.write_manifest(runs.Manifest(name="empty", method="sft"))
    cli_error(["probe", "--run", str(run.root), "--data", "d.jsonl"], capsys,
              f"{re.escape(str(run.checkpoints_dir))}: no finished checkpoint to probe")


@pytest.mark.bad_input
def test_probe_run_dataset_names_must_be_one_folder(run_dir, tmp_path, capsys):
    cli_error(["probe", "--run", str(run_dir.root), "--data", str(tmp_path / "sft-data.jsonl"), "--dataset", "../x"],
              capsys, "--dataset '../x': use letters, digits and . _ \\+ - only")
    odd = tmp_path / "my data.jsonl"
    shutil.copy(tmp_path / "sft-data.jsonl", odd)
    cli_error(["probe", "--run", str(run_dir.root), "--data", str(odd)], capsys,
              "the data file's name 'my data' cannot name a dataset folder; pass --dataset NAME")


@pytest.mark.bad_input
def test_probe_run_of_a_bare_checkpoint_without_a_tokenizer(tmp_path, capsys):
    run = runs.Run(tmp_path / "bare")
    tiny_llama().save_pretrained(run.checkpoint(5))
    run.write_manifest(runs.Manifest(name="bare", method="sft"))
    cli_error(["probe", "--run", str(run.root), "--data", "d.jsonl"], capsys,
              f"{re.escape(str(run.checkpoint(5)))}: holds no tokenizer and the run names none; pass --tokenizer")


@pytest.mark.bad_input
def test_probe_run_refuses_other_data_under_a_dataset_name_already_probed(run_dir, tmp_path, capsys):
    assert _cli("--run", str(run_dir.root), "--data", str(tmp_path / "sft-data.jsonl")) == 0
    other = tmp_path / "v2" / "train.jsonl"
    other.parent.mkdir()
    other.write_text(json.dumps({"text": "w1 w2 w3"}) + "\n")
    cli_error(["probe", "--run", str(run_dir.root), "--data", str(other), "--dataset", "train"], capsys,
              "already holds a finished probe of other examples or options; .*another --dataset\\)$")


@pytest.mark.bad_input
def test_a_lora_adapter_without_a_base_is_named(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    one_line_error(_load(adapter), f"{re.escape(str(adapter / 'adapter_config.json'))}: names no base model "
                                   "\\(base_model_name_or_path\\); give the run one")


# ---- kill -9 and rerun --------------------------------------------------------------------------------------
def _kill_when(argv: list[str], ready, what: str) -> None:
    """Run tests/probe/_probe_killable.py ARGV in a subprocess and SIGKILL it as soon as ready() holds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    kill_when([sys.executable, str(TESTS / "_probe_killable.py"), *argv], ready, what, env=env, timeout=60)


@pytest.mark.fault
def test_probe_run_killed_between_checkpoints_then_rerun_equals_an_uninterrupted_run(run_dir, tmp_path, capsys):
    """`probscope probe --run` killed while its second checkpoint is being probed: the rerun skips the first
    (finished) checkpoint, resumes the second, and both tables equal an uninterrupted run's."""
    whole = runs.Run(Path(shutil.copytree(run_dir.root, tmp_path / "whole" / "sft")))
    argv = ["probe", "--run", str(run_dir.root), "--shard-size", "1", "--batch-size", "1"]
    second = run_dir.probe_dir(20)
    _kill_when(["--pause", "0.15", "--cli", *argv],
               lambda: (run_dir.probe_dir(10) / runs.PROBE_DONE).exists() and list(second.glob(".part-*.tmp")),
               "the second checkpoint's first shard")
    assert run_dir.probed_steps() == [10] and not (second / runs.PROBE_DONE).exists()
    assert _cli(*argv[1:]) == 0
    assert "probed 1 checkpoint(s) (steps 20), 1 already probed" in capsys.readouterr().out
    assert _cli("--run", str(whole.root), "--shard-size", "1", "--batch-size", "1") == 0
    for step in (10, 20):
        assert read_probe_table(run_dir.probe_dir(step)).equals(read_probe_table(whole.probe_dir(step)))
    assert not list(second.glob(".*.tmp"))


@pytest.mark.fault
def test_probe_killed_mid_write_then_rerun_equals_an_uninterrupted_run(tmp_path):
    """SIGKILL while a shard is being written (its temporary file complete, not yet renamed), after at least one
    shard finished; the rerun keeps the finished shards, removes the leftover and ends as an uninterrupted run."""
    sys.path.insert(0, str(TESTS))
    from _probe_killable import EXAMPLES, SHARD_SIZE, probe

    killed = tmp_path / "killed"
    _kill_when([str(killed), "--pause", "0.2"],
               lambda: list(killed.glob("part-*.parquet")) and list(killed.glob(".part-*.tmp")), "its second shard")
    finished_before = sorted(p.name for p in killed.glob("part-*.parquet"))
    assert list(killed.glob(".part-*.tmp")) and not (killed / runs.PROBE_DONE).exists()
    assert 1 <= len(finished_before) < -(-EXAMPLES // SHARD_SIZE)

    mtimes = {name: (killed / name).stat().st_mtime_ns for name in finished_before}
    resumed = probe(killed)
    assert not resumed.already_done and not list(killed.glob(".*.tmp"))
    assert {name: (killed / name).stat().st_mtime_ns for name in finished_before} == mtimes   # kept, not redone
    probe(tmp_path / "whole")
    assert read_probe_table(killed).equals(read_probe_table(tmp_path / "whole"))
    assert marker(killed)["tokens"] == marker(tmp_path / "whole")["tokens"]
