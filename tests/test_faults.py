"""Crash safety: an evaluation and a rejection-sampling job killed with SIGKILL after their first finished
shard, then rerun, end exactly as an uninterrupted job does (seeded sampling, k > 1).

    .venv/bin/pytest -q -m fault tests/test_faults.py

The killed job runs in a child process whose atomic writer pauses after the first shard file is in place:
the kill lands between two shards every time, not by the luck of a timer.
"""

import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO
from helpers import evaluate_builtin_test, kill_when, save_small_llama, small_llama

from probscope.runs import BUILTIN_DATA, EVAL_DONE, EVAL_PLAN, Manifest, Run

pytestmark = pytest.mark.fault

TASK = {"n_train": 8, "n_test": 6, "n_old_people": 2, "n_new_people": 2, "n_pretrain_docs": 60}
# The child: pause (to be killed) once a shard file matching MARK has been written, else run normally.
CHILD = textwrap.dedent("""
    import importlib, os, sys, time
    module, writer, mark, entry = sys.argv[1:5]
    target = importlib.import_module(module)
    original = getattr(target, writer)
    def pausing(*args, **kwargs):
        original(*args, **kwargs)
        if any(mark in os.fspath(a) for a in args if isinstance(a, os.PathLike)):   # the path, not the text
            time.sleep(120)
    setattr(target, writer, pausing)
    exec(entry)
""")


def _kill_after_first_shard(module: str, writer: str, mark: str, entry: str, shard: Path) -> None:
    """Run `entry` in a child process, SIGKILL it once `shard` exists (the child pauses right after it)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    status = kill_when([sys.executable, "-c", CHILD, module, writer, mark, entry], shard.is_file,
                       f"writing {shard.name}", env=env, cwd=REPO, timeout=90, poll=0.02)
    assert status == -signal.SIGKILL


# ---- evaluation -----------------------------------------------------------------------------------------------
def test_killed_evaluation_resumes_to_the_uninterrupted_records(tmp_path):
    from transformers import AutoTokenizer

    from probscope.builtin.task import TOKENIZER_DIR, TaskConfig, write_builtin_data
    from probscope.evaluate import read_samples

    write_builtin_data(tmp_path / BUILTIN_DATA, TaskConfig(**TASK))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / BUILTIN_DATA / TOKENIZER_DIR)
    run = Run(tmp_path / "sft")
    run.write_manifest(Manifest(name="sft", method="sft", status="finished"))
    save_small_llama(tokenizer, run.checkpoint(3))

    [whole] = evaluate_builtin_test(tmp_path, "whole")
    assert whole.summary and whole.summary["k"] == 3

    killed = run.eval_dir(3, "killed")
    _kill_after_first_shard("probscope.runs", "write_parquet_atomic", "part-",
                            f"sys.path.insert(0, {str(REPO / 'tests')!r})\nfrom helpers import evaluate_builtin_test\n"
                            f"evaluate_builtin_test({str(tmp_path)!r}, 'killed')",
                            killed / "part-000000.parquet")
    assert sorted(p.name for p in killed.iterdir()) == [EVAL_PLAN, "part-000000.parquet"]   # killed mid-stage
    first_shard = (killed / "part-000000.parquet").stat().st_mtime_ns

    [resumed] = evaluate_builtin_test(tmp_path, "killed")
    assert not resumed.already_done and (killed / EVAL_DONE).is_file()
    assert (killed / "part-000000.parquet").stat().st_mtime_ns == first_shard      # the finished shard was kept
    expected, got = read_samples(run.eval_dir(3, "whole")), read_samples(killed)
    assert expected.height == 18 and expected["generation"].n_unique() > 3             # sampled, not greedy
    assert got.equals(expected)
    for key in ("average_at_k", "pass_at_k", "average_at_k_lo", "average_at_k_hi", "tokens", "fingerprint"):
        assert resumed.summary[key] == whole.summary[key]


# ---- rejection sampling ---------------------------------------------------------------------------------------
def _coin_policy(tokenizer, heads: str, tails: str):
    """A real Llama whose every next token is `heads` or `tails` with equal odds (others about 0.3%):
    embeddings all ones, layers adding nothing, so each position's logits are 10 for the two words, 0 else."""
    import torch

    model = small_llama(tokenizer, tie_word_embeddings=False)
    with torch.no_grad():
        model.model.embed_tokens.weight.fill_(1.0)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for word in (heads, tails):
            model.lm_head.weight[tokenizer.convert_tokens_to_ids(word)] = 10.0 / model.config.hidden_size
    return model


def test_killed_rejection_sampling_resumes_to_the_uninterrupted_datasets(tmp_path):
    from transformers import AutoTokenizer

    from probscope.builtin.task import TaskConfig, write_builtin_data
    from probscope.cli import main
    from probscope.training.sampling import ACCEPTED, PAIRS, PROVENANCE, SHARDS

    paths = write_builtin_data(tmp_path / "builtin", TaskConfig(**TASK))
    tokenizer = AutoTokenizer.from_pretrained(paths["tokenizer"])
    heads, tails = "think", "begin"
    assert tokenizer.convert_tokens_to_ids(heads) != tokenizer.unk_token_id != tokenizer.convert_tokens_to_ids(tails)
    policy = tmp_path / "policy"
    _coin_policy(tokenizer, heads, tails).save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    data = tmp_path / "prompts.jsonl"   # the verifier accepts a reply holding the word `heads`
    data.write_text("".join(json.dumps({"prompt": f"Compute {i} + {i} ?", "completion": heads, "answer": heads}) + "\n"
                            for i in range(6)))

    def argv(out: Path) -> list[str]:
        return ["sample", "--policy", str(policy), "--data", str(data), "--out", str(out), "--reward",
                "builtin-facts", "--k", "4", "--temperature", "1.0", "--max-new-tokens", "2", "--seed", "5",
                "--shard-size", "2", "--batch-size", "2", "--device", "cpu"]

    assert main(argv(tmp_path / "whole")) == 0
    provenance = json.loads((tmp_path / "whole" / PROVENANCE).read_text())
    assert 0 < provenance["acceptance_rate"] < 1 and provenance["n_pairs"] > 0     # both files hold something

    killed = tmp_path / "killed"
    _kill_after_first_shard("probscope.training.sampling", "write_text_atomic", "shard-",
                            f"from probscope.cli import main\nmain({argv(killed)!r})",
                            killed / SHARDS / "shard-00000.jsonl")
    assert [p.name for p in (killed / SHARDS).iterdir()] == ["shard-00000.jsonl"]
    assert not (killed / ACCEPTED).exists() and not (killed / PROVENANCE).exists()

    assert main(argv(killed)) == 0
    for name in (ACCEPTED, PAIRS, f"{SHARDS}/shard-00001.jsonl"):
        assert (killed / name).read_text() == (tmp_path / "whole" / name).read_text(), name
    assert json.loads((killed / PROVENANCE).read_text()) == provenance
