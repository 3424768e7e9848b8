"""Rejection sampling: acceptance, the no-acceptance error, DPO pairs, frontier prompts, provenance, resuming,
a real model."""

import json

import pytest
from helpers import save_small_llama

from probscope.builtin.task import TaskConfig, write_builtin_data
from probscope.errors import ProbscopeError
from probscope.training.sampling import ACCEPTED, FRONTIER, PAIRS, PROVENANCE, SHARDS, SampleConfig, sample


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("builtin")
    paths = write_builtin_data(root, TaskConfig(n_train=20, n_test=4, n_old_people=2, n_new_people=2,
                                                n_pretrain_docs=100))
    rows = [json.loads(line) for line in paths["train"].open()]
    return paths, {r["prompt"]: r for r in rows}


def policy(by_prompt, right: bool, calls=None):
    """A fake policy: the reference reply (always right) or one whose final answer is off by one."""

    def generate(prompts, k, seed):
        if calls is not None:
            calls.extend(prompts)
        out = []
        for prompt in prompts:
            row = by_prompt[prompt]
            wrong = row["completion"].rsplit(row["answer"], 1)
            reply = row["completion"] if right else f"{wrong[0]}{int(row['answer']) + 1}{wrong[1]}"
            out.append([reply] * k)
        return out

    return generate


def config(paths, out, **kw):
    settings = dict(policy="fake", data=str(paths["train"]), out=str(out), reward="builtin-reasoning", k=3,
                    shard_size=8)
    return SampleConfig(**{**settings, **kw})


def test_always_wrong_policy_is_a_clear_error_with_the_acceptance_rate(data, tmp_path):
    paths, by_prompt = data
    with pytest.raises(ProbscopeError, match=r"no sample accepted .*acceptance rate 0\.0% of 60 samples"):
        sample(config(paths, tmp_path), policy=policy(by_prompt, right=False))
    assert not (tmp_path / ACCEPTED).exists() and not (tmp_path / PROVENANCE).exists()


def test_always_right_policy_accepts_everything(data, tmp_path):
    paths, by_prompt = data
    provenance = sample(config(paths, tmp_path, temperature=0.7, seed=3), policy=policy(by_prompt, right=True))
    assert provenance["acceptance_rate"] == 1.0 and provenance["n_samples"] == 60
    assert (provenance["k"], provenance["temperature"], provenance["seed"], provenance["policy"]) == (3, 0.7, 3, "fake")
    assert json.loads((tmp_path / PROVENANCE).read_text()) == provenance
    accepted = [json.loads(line) for line in (tmp_path / ACCEPTED).open()]
    assert len(accepted) == 60 and all(r["completion"] == by_prompt[r["prompt"]]["completion"] for r in accepted)
    assert (tmp_path / PAIRS).read_text() == ""      # nothing rejected: no pairs


def test_pairs_hold_one_accepted_and_one_rejected_sample_of_the_same_prompt(data, tmp_path):
    paths, by_prompt = data
    right, wrong = policy(by_prompt, True), policy(by_prompt, False)

    def mixed(prompts, k, seed):       # 2 right, 1 wrong per prompt
        return [r[:2] + w[:1] for r, w in zip(right(prompts, k, seed), wrong(prompts, k, seed), strict=False)]

    provenance = sample(config(paths, tmp_path), policy=mixed)
    assert provenance["acceptance_rate"] == pytest.approx(2 / 3)
    pairs = [json.loads(line) for line in (tmp_path / PAIRS).open()]
    assert len(pairs) == 20
    for pair in pairs:
        assert pair["chosen"] == by_prompt[pair["prompt"]]["completion"] != pair["rejected"]


def graded(by_prompt):
    """Row i of the data gets (i mod 4) right replies of k = 3 (3 when i mod 4 is 3): pass rates 0, 1/3, 2/3, 1."""
    right, wrong = policy(by_prompt, True), policy(by_prompt, False)
    order = list(by_prompt)

    def generate(prompts, k, seed):
        return [r[:min(3, order.index(p) % 4)] + w[min(3, order.index(p) % 4):]
                for p, r, w in zip(prompts, right(prompts, k, seed), wrong(prompts, k, seed), strict=False)]

    return generate


def test_pass_band_keeps_the_rows_whose_pass_rate_lies_in_it_as_rl_data(data, tmp_path):
    from probscope.data import DataFormat
    from probscope.training.rl import prompt_dataset

    paths, by_prompt = data
    provenance = sample(config(paths, tmp_path, pass_band="0.2,0.8"), policy=graded(by_prompt))
    frontier = [json.loads(line) for line in (tmp_path / FRONTIER).open()]
    expected = [row for i, row in enumerate(by_prompt.values()) if i % 4 in (1, 2)]
    assert [{k: v for k, v in r.items() if k != "pass_rate"} for r in frontier] == expected   # the rows, unchanged
    assert [r["pass_rate"] for r in frontier] == pytest.approx([1 / 3, 2 / 3] * 5)
    assert (provenance["n_frontier"], provenance["pass_band"]) == (10, [0.2, 0.8])
    assert (provenance["prompts_all_accepted"], provenance["prompts_none_accepted"]) == (5, 5)
    dataset = prompt_dataset(str(tmp_path / FRONTIER), DataFormat())     # what GRPO / PPO train on
    assert dataset["answer"] == [row["answer"] for row in expected]
    # another band over the same samples resamples nothing: the band is not a sampling setting
    provenance = sample(config(paths, tmp_path, pass_band="1,1"), policy=lambda *a: pytest.fail("resampled"))
    assert provenance["n_frontier"] == 5


@pytest.mark.bad_input
@pytest.mark.parametrize("band, error", [
    ("0.8,0.2", "needs 0 <= LO <= HI <= 1"), ("half", "is not LO,HI"), ("0.1,0.5,0.9", "is not LO,HI"),
    ("0,1.5", "needs 0 <= LO <= HI <= 1"),
])
def test_a_malformed_pass_band_is_refused_before_sampling(data, tmp_path, band, error):
    paths, by_prompt = data
    with pytest.raises(ProbscopeError, match=f"pass_band: .*{error}"):
        sample(config(paths, tmp_path, pass_band=band), policy=lambda *a: pytest.fail("sampled"))


def test_an_empty_pass_band_is_an_error_that_counts_the_prompts_that_always_and_never_pass(data, tmp_path):
    paths, by_prompt = data
    with pytest.raises(ProbscopeError, match=r"no prompt has a pass rate in \[0.4, 0.6\] \(5 of 20 always pass, "
                                             r"5 never; k=3\)"):
        sample(config(paths, tmp_path, pass_band="0.4,0.6"), policy=graded(by_prompt))
    assert not (tmp_path / FRONTIER).exists()


def test_a_killed_job_resumes_after_its_finished_shards(data, tmp_path):
    paths, by_prompt = data
    calls = []
    always_right = policy(by_prompt, right=True, calls=calls)

    def killed_in_shard_2(prompts, k, seed):
        if seed == 2:
            raise KeyboardInterrupt
        return always_right(prompts, k, seed)

    with pytest.raises(KeyboardInterrupt):
        sample(config(paths, tmp_path), policy=killed_in_shard_2)
    assert sorted(p.name for p in (tmp_path / SHARDS).iterdir()) == ["shard-00000.jsonl", "shard-00001.jsonl"]
    calls.clear()
    provenance = sample(config(paths, tmp_path), policy=always_right)
    assert len(calls) == 4 and provenance["n_samples"] == 60          # only shard 2's 4 prompts resampled
    with pytest.raises(ProbscopeError, match="other k"):
        sample(config(paths, tmp_path, k=5), policy=always_right)    # other settings never mix with old shards


def test_a_real_model_samples_and_the_cli_reports(data, tmp_path, capsys):
    """A random tiny model from the built-in tokenizer: generate works end to end (its replies are wrong)."""
    from transformers import AutoTokenizer

    from probscope.cli import main

    paths, _ = data
    tok = AutoTokenizer.from_pretrained(paths["tokenizer"])
    save_small_llama(tok, tmp_path / "policy")
    code = main(["sample", "--policy", str(tmp_path / "policy"), "--data", str(paths["train"]), "--out",
                 str(tmp_path / "out"), "--reward", "builtin-reasoning", "--k", "2", "--limit", "4",
                 "--max-new-tokens", "8"])
    assert code == 2 and "acceptance rate 0.0% of 8 samples" in capsys.readouterr().err
    shard = [json.loads(line) for line in (tmp_path / "out" / SHARDS / "shard-00000.jsonl").open()]
    assert len(shard) == 8 and all(isinstance(s["completion"], str) for s in shard)


@pytest.mark.bad_input
@pytest.mark.parametrize(("settings", "message"), [
    ({"reward": "builtin-reasonin"}, "reward: unknown reward 'builtin-reasonin' \\(did you mean 'builtin-reasoning'"),
    ({"k": 0}, "k=0: must be an integer >= 1"),
    ({"shard_size": 0}, "shard_size=0"),
    ({"limit": -2}, "limit=-2"),
    ({"temperature": 0.0}, "temperature=0.0: must be a number in \\(0"),
    ({"top_p": 1.5}, "top_p=1.5: must be a number in \\(0, 1\\]"),
])
def test_a_sample_config_checks_itself_when_built(settings, message):
    base = {"policy": "p", "data": "d.jsonl", "out": "o", "reward": "builtin-reasoning"}
    with pytest.raises(ProbscopeError, match=message):
        SampleConfig(**{**base, **settings})


@pytest.mark.bad_input
def test_a_sample_out_that_is_a_file_is_refused_when_built(tmp_path):
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    with pytest.raises(ProbscopeError, match="out .*a-file is a file, not a folder"):
        SampleConfig(policy="p", data="d.jsonl", out=str(taken), reward="builtin-reasoning")
