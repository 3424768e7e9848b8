"""Helpers the tests share (fixtures built on them live in tests/conftest.py).

* Synthetic runs directories (no model needed): build_fixture_runs (three runs shaped like the paper's
  Figure 2) and build_dashboard_runs (plus configs, dynamics, evaluations and a second dataset).
* Probe tests: a wide-logit tiny Llama, a numbered word tokenizer, random SFT-shaped examples and the
  independent float64 reference (each example alone through the model's own forward, full logits).
* Trainer tests: the tiny shape, an fp32 SFTConfig and right-padded batches.
* Checkpoints on a real tokenizer (evaluation, sampling, faults): small_llama / save_small_llama.
* Subprocesses: run_torchrun (multi-process) and kill_when (SIGKILL at a chosen moment).
* The dashboard: markdown_text (what Streamlit shows for Markdown with escaped user text).

    python tests/helpers.py /tmp/fixture-runs        # then: streamlit run app/main.py -- --runs /tmp/fixture-runs
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl
import torch

from probscope import schema
from probscope.data import EncodedExample
from probscope.probe.table import part_name
from probscope.runs import EVAL_DONE, PROBE_DONE, Manifest, Run, write_parquet_atomic, write_text_atomic

# ---- synthetic runs ------------------------------------------------------------------------------------
# (token, role) pairs of a toy arithmetic vocabulary; token id = index
VOCAB: tuple[tuple[str, str], ...] = (
    *((str(d), "number") for d in range(10)),
    ("+", "operator"), ("-", "operator"), ("*", "operator"), ("=", "operator"),
    ("So", "connective"), ("Then", "connective"), ("Let's", "connective"), (" we get", "connective"),
    (".", "punctuation"), (",", "punctuation"), (":", "punctuation"),
    ("42", "answer"), ("<|eos|>", "special"),
)
# method -> (share of stylistic tokens pushed into [1e-7, 1e-2), share of other tokens pushed there, beta a, beta b)
SHAPES: dict[str, tuple[float, float, float, float]] = {
    "base": (0.02, 0.01, 2.0, 2.0),
    "sft": (0.05, 0.01, 4.0, 1.0),
    "dft": (0.30, 0.02, 12.0, 0.6),
}
EOS = len(VOCAB) - 1
# method -> share of replies whose end-of-reply token keeps p in [1e-3, 0.05)
EOS_LEFT_BEHIND: dict[str, float] = {"base": 0.9, "sft": 0.0, "dft": 0.6}
RUN_STEPS: dict[str, tuple[int, ...]] = {"base": (0,), "sft": (5, 10), "dft": (5, 10)}
UNFINISHED = ("sft", 20)
EXAMPLES, TOKENS_PER_EXAMPLE = 40, 30
DATASET_SEED = 1   # the probed tokens: one dataset, the same at every run and step


def build_fixture_runs(root: Path, *, seed: int = 0) -> Path:
    """Write the three runs under `root` and return it."""
    rng = np.random.default_rng(seed)
    for name, steps in RUN_STEPS.items():
        run = Run(Path(root) / name)
        run.write_manifest(Manifest(name=name, method=name, seed=seed, status="finished", code_version="fixture"))
        for step in steps:
            write_text_atomic(run.checkpoint(step) / "config.json", "{}")
            _write_probe(run, step, probe_table(name, step, rng), finished=True)
    name, step = UNFINISHED
    _write_probe(Run(Path(root) / name), step, probe_table(name, step, rng), finished=False)
    return Path(root)


def probe_table(method: str, step: int, rng: np.random.Generator) -> pl.DataFrame:
    """One probe table with schema.TOKEN_COLUMNS, p drawn from the method's shape."""
    n = EXAMPLES * TOKENS_PER_EXAMPLE
    last = np.arange(n) % TOKENS_PER_EXAMPLE == TOKENS_PER_EXAMPLE - 1
    # the same tokens at every run and step (one dataset, one tokenizer), as paired analyses require
    token_ids = np.where(last, EOS, np.random.default_rng(DATASET_SEED).integers(0, EOS, n))
    roles = [VOCAB[i][1] for i in token_ids]
    stylistic = np.isin(roles, schema.STYLISTIC_ROLES)
    low_styl, low_other, a, b = SHAPES[method]
    low = rng.random(n) < np.where(stylistic, low_styl, low_other)
    p = np.where(low, 10 ** rng.uniform(-7, -2, n), rng.beta(a, b, n))
    eos_behind = last & (rng.random(n) < EOS_LEFT_BEHIND[method])
    p = np.where(eos_behind, rng.uniform(1e-3, 0.05, n), np.where(last, np.maximum(p, 0.5 + p / 2), p))
    rank = np.where(p > 0.5, 1, rng.integers(2, 50, n))
    return pl.DataFrame(
        {
            schema.RUN: method,
            schema.STEP: step,
            schema.EXAMPLE_ID: [hashlib.sha1(str(i // TOKENS_PER_EXAMPLE).encode()).hexdigest()[:16] for i in range(n)],
            schema.POSITION: np.arange(n) % TOKENS_PER_EXAMPLE + 5,
            schema.TOKEN_ID: token_ids,
            schema.TOKEN: [VOCAB[i][0] for i in token_ids],
            schema.P: p,
            schema.LOGP: np.log(p),
            schema.ENTROPY: rng.uniform(0, 3, n),
            schema.RANK: rank,
            schema.IS_TOP1: rank == 1,
            schema.SUM_P2: np.maximum(p**2, rng.uniform(0, 1, n)),
            schema.ROLE: roles,
        },
        schema=schema.token_schema(),
    )


def _write_probe(run: Run, step: int, table: pl.DataFrame, *, finished: bool, dataset: str = "train") -> None:
    probe_dir = run.probe_dir(step, dataset)
    half = table.height // 2
    write_parquet_atomic(table[:half], probe_dir / part_name(rank=0, shard=0))
    write_parquet_atomic(table[half:], probe_dir / part_name(rank=0, shard=1))
    if finished:
        write_text_atomic(probe_dir / PROBE_DONE, json.dumps({"rows": table.height}))


# ---- dashboard runs ------------------------------------------------------------------------------------
LEARNING_RATE = {"base": 1e-3, "sft": 5e-5, "dft": 5e-5}
EVAL_STEPS = (5, 10)
PROBLEMS, SAMPLES = 6, 2


# ---- fixture runs ----------------------------------------------------------------------------------------
def dynamics_rows(weight: float) -> list[dict]:
    rows, seen = [], 0
    for step in (1, 2, 3, 4):
        counts = [1 + (step + b) % 4 for b in range(len(schema.BIN_LABELS))]
        seen += 3 * sum(counts)   # input tokens: the targets and a prompt twice their length
        level = {schema.STEP: step, schema.N_TOKENS: sum(counts), schema.TOKENS_SEEN: seen, schema.P_BIN_COUNTS: counts,
                 schema.SFT_LOSS: 2.0 / step, schema.DFT_LOSS: 0.1 * step,
                 **{name: weight * q for q, name in schema.WEIGHT_QUANTILE.items()}}
        rows += [{**level, schema.OBJECTIVE: "sft", schema.WEIGHT_MEAN: 1.0},
                 {**level, schema.OBJECTIVE: "dft", schema.WEIGHT_MEAN: weight + 0.01 * step}]
    return rows


def eval_samples(run_index: int, step: int) -> pl.DataFrame:
    """PROBLEMS problems x SAMPLES samples; more correct at later steps and for later runs."""
    rows = []
    for problem in range(PROBLEMS):
        for sample in range(SAMPLES):
            correct = (problem + sample + run_index + step // 5) % 3 == 0
            rows.append({"problem_id": f"p{problem}", "sample": sample, "generation": f"Reply {sample} to p{problem}",
                         "tokens": 5, "answer": str(problem if correct else -1), "gold": str(problem),
                         "correct": correct, "reason": None if correct else "mismatch"})
    return pl.DataFrame(rows, schema={"problem_id": pl.String, "sample": pl.Int32, "generation": pl.String,
                                      "tokens": pl.Int32, "answer": pl.String, "gold": pl.String,
                                      "correct": pl.Boolean, "reason": pl.String})


def add_evaluation(run: Run, run_index: int, step: int, name: str = "builtin-test") -> float:
    samples = eval_samples(run_index, step)
    write_parquet_atomic(samples, run.eval_dir(step, name) / "part-000000.parquet")
    accuracy = samples["correct"].mean()
    summary = {"run": run.name, "step": step, "benchmark": name, "problems": PROBLEMS, "k": SAMPLES,
               "settings": {"k": SAMPLES, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 64},
               "average_at_k": accuracy, "average_at_k_lo": accuracy - 0.1, "average_at_k_hi": accuracy + 0.1,
               "pass_at_k": accuracy, "pass_at_k_lo": accuracy - 0.1, "pass_at_k_hi": accuracy + 0.1}
    write_text_atomic(run.eval_dir(step, name) / EVAL_DONE, json.dumps(summary))
    return accuracy


def build_dashboard_runs(root: Path) -> Path:
    """The fixture runs plus configs, dynamics (sft, dft), evaluations (sft, dft at steps 5 and 10) and the
    base run probed on a second dataset, 'facts-train'."""
    build_fixture_runs(root)
    for i, (name, lr) in enumerate(LEARNING_RATE.items()):
        run = Run(root / name)
        manifest = run.read_manifest()
        manifest.config = {"run": {"objective": name}, "training": {"learning_rate": lr, "max_steps": 10}}
        run.write_manifest(manifest)
        if name != "base":
            frame = pl.DataFrame(dynamics_rows(0.3 * i), schema=schema.dynamics_schema())
            write_parquet_atomic(frame, run.dynamics_dir / run.dynamics_part_name(1, 4))
            for step in EVAL_STEPS:
                add_evaluation(run, i, step)
    base = Run(root / "base")
    shutil.copytree(base.probe_dir(0), base.probe_dir(0, "facts-train"))
    return root


# ---- probe tests ---------------------------------------------------------------------------------------
def tiny_llama(vocab_size: int = 300, context: int = 2048, seed: int = 0, **overrides):
    """A random LlamaForCausalLM with wide logits (std ~7) so that p spans many decades and near-ties
    between logits, which would make ranks fragile, are rare."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context,
                         initializer_range=0.3, **overrides)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)
    return model


def word_tokenizer(vocab_size: int = 300):
    """A word-level tokenizer over "w1" ... "w{vocab_size-1}" (id 0 is [UNK])."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"[UNK]": 0, **{f"w{i}": i for i in range(1, vocab_size)}}
    backend = Tokenizer(models.WordLevel(vocab=words, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def save_checkpoint(path, vocab_size: int = 300):
    """A tiny_llama and its word tokenizer saved with save_pretrained at `path`; returns the model."""
    model = tiny_llama(vocab_size)
    model.save_pretrained(path)
    word_tokenizer(vocab_size).save_pretrained(path)
    return model


def random_examples(n: int, vocab_size: int, seed: int = 0, lengths=(4, 40), with_roles: bool = True):
    """SFT-shaped examples: a prompt (not targets) then a reply (targets), roles on the reply."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        length = rng.randint(*lengths)
        prompt = rng.randint(1, length - 1)
        ids = [rng.randrange(vocab_size) for _ in range(length)]
        roles = [None] * prompt + [rng.choice(schema.ROLES) for _ in range(length - prompt)] if with_roles else None
        examples.append(EncodedExample(f"ex{i:03d}", ids, [j >= prompt for j in range(length)], roles))
    return examples


def greedy_examples(model, n: int, seed: int = 0, prompt=(2, 8), reply=(2, 10)):
    """Examples whose replies are the model's own greedy continuations: targets of rank 1 and high p."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        ids = [rng.randrange(model.config.vocab_size) for _ in range(rng.randint(*prompt))]
        with torch.no_grad():
            for _ in range(rng.randint(*reply)):
                ids.append(int(model(input_ids=torch.tensor([ids], device=model.device)).logits[0, -1].argmax()))
        target_mask = [j >= len(ids) - 1 - i % 3 for j in range(len(ids))]
        examples.append(EncodedExample(f"greedy{i:03d}", ids, target_mask, None))
    return examples


def reference_rows(model, examples) -> dict[tuple[str, int], dict]:
    """(example id, position) -> every statistic column, from the full float64 distribution."""
    rows = {}
    with torch.no_grad():
        for ex in examples:
            ids = torch.tensor([ex.input_ids], device=model.device)
            logits = model(input_ids=ids).logits[0].double()
            logprobs = logits.log_softmax(-1)
            for pos in range(1, len(ex.input_ids)):
                if not ex.target_mask[pos]:
                    continue
                z, lp, target = logits[pos - 1], logprobs[pos - 1], ex.input_ids[pos]
                rank = int((z > z[target]).sum()) + 1
                rows[(ex.example_id, pos)] = {
                    schema.TOKEN_ID: target,
                    schema.P: float(lp[target].exp()),
                    schema.LOGP: float(lp[target]),
                    schema.ENTROPY: float(-(lp.exp() * lp).sum()),
                    schema.RANK: rank,
                    schema.IS_TOP1: rank == 1,
                    schema.SUM_P2: float((lp.exp() ** 2).sum()),
                    schema.ROLE: ex.roles[pos] if ex.roles is not None else None,
                }
    return rows


# ---- trainer tests -------------------------------------------------------------------------------------
TRAINER_VOCAB = 64
TRAINER_SHAPE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=4)


def sft_config(tmp_path, **overrides):
    from trl import SFTConfig

    # TRL's configs default bf16 to True (the CPU device itself comes from conftest's ACCELERATE_USE_CPU)
    settings = dict(output_dir=str(tmp_path / "trainer"), report_to=[], save_strategy="no", disable_tqdm=True,
                    logging_steps=1, seed=0, activation_checkpointing=False, bf16=False)
    return SFTConfig(**{**settings, **overrides})


def padded(data):
    """The examples as one right-padded batch: input_ids, attention_mask, labels."""
    width = max(len(ids) for ids in data["input_ids"])
    ids = torch.zeros(len(data), width, dtype=torch.long)
    labels = torch.full((len(data), width), -100)
    attention = torch.zeros(len(data), width, dtype=torch.long)
    for row, (x, y) in enumerate(zip(data["input_ids"], data["labels"], strict=False)):
        ids[row, :len(x)], labels[row, :len(y)], attention[row, :len(x)] = torch.tensor(x), torch.tensor(y), 1
    return ids, attention, labels


# ---- checkpoints on a real tokenizer -------------------------------------------------------------------
def small_llama(tokenizer, seed: int = 0, **config):
    """A random one-layer LlamaForCausalLM over `tokenizer`'s vocabulary and special tokens."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **config))


def save_small_llama(tokenizer, path: Path, seed: int = 0) -> Path:
    """small_llama(tokenizer, seed) and the tokenizer saved with save_pretrained at `path` (a checkpoint)."""
    small_llama(tokenizer, seed).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def evaluate_builtin_test(root, name: str):
    """What `probscope eval --benchmark builtin-test-id --k 3 --temperature 1.0 --top-p 0.9 --seed 11 --limit 6`
    does, with 2 problems per shard (the command keeps the default 64) so 6 problems make 3 shards; the fault
    test runs it in a child process too."""
    from probscope.evaluate import EvalOptions, SamplingSettings, evaluate_runs

    return evaluate_runs(root, "builtin-test-id", limit=6, name=name,
                         settings=SamplingSettings(k=3, temperature=1.0, top_p=0.9, max_new_tokens=6),
                         options=EvalOptions(seed=11, shard_size=2, grade_workers=1, progress=False))


# ---- subprocesses --------------------------------------------------------------------------------------
def kill_when(cmd: list[str], ready, what: str, *, env=None, cwd=None, timeout: float = 90, poll: float = 0.01) -> int:
    """Run `cmd`, SIGKILL it as soon as ready() holds and return its exit status; the test fails if the
    process ends first or `timeout` seconds pass."""
    import signal
    import subprocess
    import time

    import pytest

    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"ended before {what}: " + process.stderr.read().decode()[-2000:])
            if time.monotonic() > deadline:
                pytest.fail(f"never reached {what} in {timeout:.0f} s")
            time.sleep(poll)
        process.send_signal(signal.SIGKILL)
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---- multi-process tests -------------------------------------------------------------------------------
def run_torchrun(script, *args: str, processes: int = 2, timeout: int = 240) -> None:
    """`torchrun --standalone --nproc_per_node N script args` on one thread per process; a hang is ended
    with its workers (the launcher runs in a session of its own), a failure shows the workers' stderr."""
    import os
    import signal
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                 str(processes), str(script), *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = launcher.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        raise
    assert launcher.returncode == 0, stderr[-3000:]


def probed_text_run(root: Path, data_name: str = "train.jsonl") -> Run:
    """Run "sft" trained on data/train.jsonl (four text rows; its manifest says so) with one saved tiny checkpoint
    (save_checkpoint) at step 5, probed on data/`data_name` (the top-k alternatives read the examples back)."""
    from probscope.data import DataFormat
    from probscope.probe.run import probe_run

    data = root / "data" / data_name
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"text": " ".join(f"w{(7 * i + j) % 290 + 1}" for j in range(6 + i))}) + "\n"
                            for i in range(4)))
    run = Run(root / "sft")
    run.write_manifest(Manifest(name="sft", method="sft", data=str(root / "data" / "train.jsonl"),
                                config={"data_format": {"kind": "text"}}))
    save_checkpoint(run.checkpoint(5))
    probe_run(run.root, data, DataFormat(kind="text"), progress=False)
    return run


# ---- the dashboard's Markdown --------------------------------------------------------------------------
MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])|&#([0-9]+);")   # CommonMark: \ + ASCII punctuation, &#N;


def markdown_text(source: str) -> str:
    """The text Streamlit shows for Markdown `source` whose only markup is escapes: each backslash-escaped ASCII
    punctuation character as itself, each decimal character reference as its character (CommonMark's rules, in
    one left-to-right pass; written apart from probscope.app.text, which it checks)."""
    return MARKDOWN_ESCAPE.sub(lambda m: m[1] or chr(int(m[2])), source)


if __name__ == "__main__":
    print(build_fixture_runs(Path(sys.argv[1])))


def every_dashboard_view(root: Path, monkeypatch):
    """Open the dashboard on the runs under `root` in Streamlit's AppTest and yield (page title, view, app) at every
    view of every page ("" for a page without views), each rendered without an exception or error. The legend of the
    sidebar is on the app before the first page is switched to."""
    from streamlit.testing.v1 import AppTest

    from probscope.app.dashboard import PAGES, VIEWS

    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "main.py"), default_timeout=60)
    app.run()
    yield "", "", app
    for file, title in PAGES:
        app.switch_page(str(VIEWS / file)).run()
        views = [radio.options for radio in app.radio if radio.key == f"view:{title}"]
        for view in views[0] if views else [""]:
            if view:
                app.radio(key=f"view:{title}").set_value(view).run()
            assert not app.exception and not app.error, (title, view, [e.value for e in [*app.exception, *app.error]])
            yield title, view, app
