"""Crash safety: an evaluation and a rejection-sampling job killed with SIGKILL after their first finished
shard, then rerun, end exactly as an uninterrupted job does (seeded sampling, k > 1).

    .venv/bin/pytest -q -m fault tests/test_faults.py

The killed job runs in a child process whose atomic writer pauses after the first shard file is in place:
the kill lands between two shards every time, not by the luck of a timer.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from probscope.runs import BUILTIN_DATA, EVAL_DONE, EVAL_PLAN, Manifest, Run

pytestmark = pytest.mark.fault

REPO = Path(__file__).resolve().parent.parent
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
    child = subprocess.Popen([sys.executable, "-c", CHILD, module, writer, mark, entry], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while not shard.is_file():
        if child.poll() is not None:
            pytest.fail(f"the child ended before writing {shard.name}: {child.stdout.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"no {shard} after 90 s")
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def _tiny_llama(tokenizer, **config):
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **config))


# ---- evaluation -----------------------------------------------------------------------------------------------
def _evaluate(root, name: str):
    """What `probscope eval --benchmark builtin-test-id --k 3 --temperature 1.0 --top-p 0.9 --seed 11 --limit 6`
    does, with 2 problems per shard (the command keeps the default 64) so 6 problems make 3 shards."""
    from probscope.evaluate import EvalOptions, SamplingSettings, evaluate_runs

    return evaluate_runs(root, "builtin-test-id", limit=6, name=name,
                         settings=SamplingSettings(k=3, temperature=1.0, top_p=0.9, max_new_tokens=6),
                         options=EvalOptions(seed=11, shard_size=2, grade_workers=1, progress=False))


def test_killed_evaluation_resumes_to_the_uninterrupted_records(tmp_path):
    import torch
    from transformers import AutoTokenizer

    from probscope.builtin.task import TOKENIZER_DIR, TaskConfig, write_builtin_data
    from probscope.evaluate import read_samples

    write_builtin_data(tmp_path / BUILTIN_DATA, TaskConfig(**TASK))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / BUILTIN_DATA / TOKENIZER_DIR)
    run = Run(tmp_path / "sft")
    run.write_manifest(Manifest(name="sft", method="sft", status="finished"))
    torch.manual_seed(0)
    _tiny_llama(tokenizer).save_pretrained(run.checkpoint(3))
    tokenizer.save_pretrained(run.checkpoint(3))

    [whole] = _evaluate(tmp_path, "whole")
    assert whole.summary and whole.summary["k"] == 3

    killed = run.eval_dir(3, "killed")
    _kill_after_first_shard("probscope.runs", "write_parquet_atomic", "part-",
                            f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                            f"from test_faults import _evaluate\n_evaluate({str(tmp_path)!r}, 'killed')",
                            killed / "part-000000.parquet")
    assert sorted(p.name for p in killed.iterdir()) == [EVAL_PLAN, "part-000000.parquet"]   # killed mid-stage
    first_shard = (killed / "part-000000.parquet").stat().st_mtime_ns

    [resumed] = _evaluate(tmp_path, "killed")
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

    model = _tiny_llama(tokenizer, tie_word_embeddings=False)
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
