"""PPO (probscope.training.ppo): GAE, per-token rewards, whitening and the clipped value loss against closed
forms, a hand-computed batch and an independent reference; a tiny model trained a few steps into a normal run."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from probscope.analysis.dynamics import read_dynamics
from probscope.errors import ProbscopeError
from probscope.training.ppo import clipped_value_loss, gae, token_rewards, whiten
from probscope.training.run import main as train_main


def test_gae_on_a_hand_computed_batch():
    # row 1: r = [0, 0, 1], V = [.5, .2, .4], gamma .9, lambda .5:
    #   d2 = 1 - .4 = .6 -> A2 = .6;  d1 = .9*.4 - .2 = .16 -> A1 = .16 + .45*.6 = .43
    #   d0 = .9*.2 - .5 = -.32 -> A0 = -.32 + .45*.43 = -.1265;  returns = A + V = [.3735, .63, 1]
    # row 2: two tokens then padding (its reward and value there must not count):
    #   d1 = 1 - .7 = .3 -> A1 = .3;  d0 = .9*.7 - .3 = .33 -> A0 = .33 + .45*.3 = .465
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 5.0]])
    values = torch.tensor([[0.5, 0.2, 0.4], [0.3, 0.7, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    torch.testing.assert_close(advantages, torch.tensor([[-0.1265, 0.43, 0.6], [0.465, 0.3, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[0.3735, 0.63, 1.0], [0.765, 1.0, 0.0]]))


def test_gae_closed_forms_monte_carlo_at_lambda_one_and_td_at_lambda_zero():
    gen = torch.Generator().manual_seed(0)
    rewards, values = torch.rand(4, 6, generator=gen), torch.rand(4, 6, generator=gen)
    mask = torch.ones(4, 6)
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    future = rewards.flip(1).cumsum(1).flip(1)              # sum of the rewards from t on
    torch.testing.assert_close(advantages, future - values)
    torch.testing.assert_close(returns, future)
    advantages, _ = gae(rewards, values, mask, gamma=0.8, lam=0.0)
    next_values = torch.cat([values[:, 1:], torch.zeros(4, 1)], dim=1)
    torch.testing.assert_close(advantages, rewards + 0.8 * next_values - values)


def test_gae_matches_an_independent_sum_of_discounted_td_errors():
    """A_t = sum_l (gamma*lam)^l delta_{t+l}, written directly in numpy over each row's valid tokens."""
    rng = np.random.default_rng(1)
    gamma, lam = 0.95, 0.7
    rewards, values = rng.normal(size=(5, 9)), rng.normal(size=(5, 9))
    lengths = [9, 1, 4, 7, 0]
    mask = np.array([[1.0] * n + [0.0] * (9 - n) for n in lengths])
    expected = np.zeros((5, 9))
    for b, n in enumerate(lengths):
        v = np.append(values[b, :n], 0.0)
        delta = rewards[b, :n] + gamma * v[1:] - v[:-1]
        for t in range(n):
            expected[b, t] = sum((gamma * lam) ** k * delta[t + k] for k in range(n - t))
    got, _ = gae(*(torch.tensor(x) for x in (rewards, values, mask)), gamma=gamma, lam=lam)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_token_rewards_put_the_score_on_the_last_token_and_the_kl_penalty_on_every_token():
    logps = torch.tensor([[-1.0, -2.0, -0.5], [-0.1, -0.2, -9.0]])
    ref = torch.tensor([[-1.5, -2.0, -0.3], [-0.1, -0.4, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    got = token_rewards(torch.tensor([1.0, 0.5]), logps, ref, mask, kl_coef=0.1)
    # -0.1 * (log p - log p_ref): row 1 [-.05, 0, .02] + 1 at t=2; row 2 [0, -.02, pad 0] + .5 at t=1
    torch.testing.assert_close(got, torch.tensor([[-0.05, 0.0, 1.02], [0.0, 0.48, 0.0]]))
    torch.testing.assert_close(token_rewards(torch.tensor([1.0, 0.5]), logps, None, mask, kl_coef=0.1),
                               torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.5, 0.0]]))


def test_whiten_normalizes_over_the_valid_tokens_only():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, -50.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    valid = np.array([1.0, 2.0, 3.0, 4.0])
    expected = (valid - valid.mean()) / valid.std()
    got = whiten(x, mask)
    np.testing.assert_allclose(got[mask.bool()].numpy(), expected, rtol=1e-5)
    assert (got[~mask.bool()] == 0).all()


def test_clipped_value_loss_on_a_hand_computed_batch():
    # token 1: V 1.0 moved from V_old 0 by more than .2 -> V_clip .2; (1-2)^2 = 1 < (.2-2)^2 = 3.24: clipped
    # token 2: V .1 within the clip: both errors (.1-.5)^2 = .16;  token 3: padding
    values, old = torch.tensor([[1.0, 0.1, 7.0]]), torch.tensor([[0.0, 0.0, 0.0]])
    returns, mask = torch.tensor([[2.0, 0.5, 0.0]]), torch.tensor([[1.0, 1.0, 0.0]])
    loss, clipped = clipped_value_loss(values, old, returns, mask, clip=0.2)
    assert loss.item() == pytest.approx(0.5 * (3.24 + 0.16) / 2)
    assert clipped.item() == pytest.approx(0.5)


# ---- end to end ----------------------------------------------------------------------------------------
TINY_MODEL = json.dumps({"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                         "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 256})
FAST = ["--max_steps", "3", "--per_device_train_batch_size", "4", "--logging_steps", "1", "--disable_tqdm", "true"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from probscope.builtin.task import TaskConfig, write_builtin_data
    from probscope.training.rewards import REWARDS

    root = tmp_path_factory.mktemp("runs")
    paths = write_builtin_data(root / "data" / "builtin", TaskConfig(n_train=16, n_test=4, n_old_people=2,
                                                                     n_new_people=2, n_pretrain_docs=60))
    run = train_main(["--run_name", "base", "--runs_root", str(root), "--tokenizer", str(paths["tokenizer"]),
                      "--model_config", TINY_MODEL, "--data", str(paths["pretrain"]), "--kind", "text", *FAST,
                      "--checkpoints", "final"])
    # the tiny base is never right: a reward that differs between samples of one prompt gives PPO a signal
    REWARDS.add("ppo-parity-test", lambda reply, answer: float(len(reply.split()) % 2))
    yield root, paths, run.checkpoint(3)
    REWARDS.remove("ppo-parity-test")


def ppo(base, name, *extra):
    root, paths, model = base
    return train_main(["--run_name", name, "--runs_root", str(root), "--model", str(model), "--trainer", "ppo",
                       "--reward", "ppo-parity-test", "--data", str(paths["train"]), "--num_generations", "2",
                       "--max_completion_length", "10", "--num_iterations", "2", "--learning_rate", "1e-2",
                       *FAST, "--checkpoints", "log", *extra])


def test_ppo_trains_a_tiny_model_into_a_normal_run_with_rl_dynamics(base):
    from safetensors.torch import load_file

    run = ppo(base, "ppo")
    manifest = run.read_manifest()
    assert (manifest.method, manifest.status) == ("ppo", "finished")
    assert run.checkpoint_steps() == [0, 1, 2, 3]
    first, last = (load_file(run.checkpoint(s) / "model.safetensors") for s in (0, 3))
    assert first.keys() == last.keys() and any(not torch.equal(first[k], last[k]) for k in first)
    dynamics = read_dynamics(run.dynamics_dir).sort("step")
    assert dynamics["step"].to_list() == [1, 2, 3] and set(dynamics["objective"]) == {"ppo"}
    assert (dynamics["n_tokens"] > 0).all() and dynamics["value_loss"].is_not_null().all()
    assert (dynamics["value_loss"] > 0).any()      # the parity reward gives the critic something to fit
    generated = dynamics.filter(dynamics["reward_mean"].is_not_null())   # steps that sampled (num_iterations 2)
    assert generated["step"].to_list() == [1, 3]        # sampled before the first update, and after two
    kl = generated["kl"].to_list()
    assert kl[0] == pytest.approx(0, abs=1e-6) and abs(kl[1]) > 1e-6   # the reference is a frozen copy, not the policy
    assert generated["frac_reward_zero_std"].is_between(0, 1).all()


@pytest.mark.bad_input
def test_ppo_refuses_grpo_beta_lora_and_a_missing_reward(base):
    with pytest.raises(ProbscopeError, match="beta: 0.04 is not allowed for trainer ppo.*kl_coef"):
        ppo(base, "ppo-beta", "--beta", "0.04")
    with pytest.raises(ProbscopeError, match="trainer ppo does not support `lora`"):
        ppo(base, "ppo-lora", "--lora", json.dumps({"r": 2, "target_modules": ["q_proj"]}))
    with pytest.raises(ProbscopeError, match="trainer ppo needs `reward`"):
        ppo(base, "ppo-noreward", "--reward", "")


@pytest.mark.parametrize("trainer", ["ppo", "grpo"])
def test_a_killed_run_resumes_to_the_policy_and_critic_of_an_unkilled_one(base, monkeypatch, trainer):
    """Killed during step 4 (trainer state saved every step; two epochs per sampled batch, so step 4 trains on
    step 3's samples again), rerun: it resumes from step 3 and ends with the weights and, for PPO, the value
    model (its head included) of a run that was never killed. GRPO shares the sample buffer's resume. Both are
    saved before trainer_state.json, which marks a state complete."""
    from safetensors.torch import load_file
    from transformers import TrainerState
    from trl import GRPOTrainer

    from probscope.training.ppo import VALUE_STATE
    from probscope.training.rl import GENERATION_STATE, GRPODynamicsTrainer

    critics, steps_trained, present = {}, [], []
    train, compute_loss = GRPODynamicsTrainer.train, GRPOTrainer._compute_loss   # PPO's loss calls GRPO's
    save_to_json = TrainerState.save_to_json

    def train_keeping_the_critic(self, *args, **kwargs):
        output = train(self, *args, **kwargs)
        if trainer == "ppo":
            critics[self.args.output_dir] = {k: v.detach().clone() for k, v in self.value_model.state_dict().items()}
        return output

    def killed_in_step_4(self, *args, **kwargs):
        if self.state.global_step == 3:
            raise KeyboardInterrupt("simulated kill")
        return compute_loss(self, *args, **kwargs)

    def counted(self, *args, **kwargs):
        steps_trained.append(self.state.global_step + 1)
        return compute_loss(self, *args, **kwargs)

    def saved_last(self, path):   # trainer_state.json marks a state complete: what was in it by then
        present.append({file.name for file in Path(path).parent.iterdir()})
        return save_to_json(self, path)

    monkeypatch.setattr(GRPODynamicsTrainer, "train", train_keeping_the_critic)
    monkeypatch.setattr(TrainerState, "save_to_json", saved_last)
    schedule = ["--trainer", trainer, "--max_steps", "5", "--resume_every", "1", "--checkpoints", "2"]
    whole = ppo(base, f"{trainer}-whole", *schedule)
    expected_files = {GENERATION_STATE.format(rank=0)} | ({VALUE_STATE} if trainer == "ppo" else set())
    assert len(present) >= 4 and all(expected_files <= files for files in present)
    monkeypatch.setattr(GRPODynamicsTrainer, "_compute_loss", killed_in_step_4)
    with pytest.raises(KeyboardInterrupt):
        ppo(base, f"{trainer}-killed", *schedule)
    monkeypatch.setattr(GRPODynamicsTrainer, "_compute_loss", counted)
    resumed = ppo(base, f"{trainer}-killed", *schedule)
    assert resumed.read_manifest().method == trainer
    assert steps_trained == [4, 5]             # steps 1-3 came from the saved state
    assert resumed.read_manifest().status == "finished" and resumed.checkpoint_steps() == [2, 5]
    weights, expected, start = (load_file(run.checkpoint(step) / "model.safetensors")
                                for run, step in ((resumed, 5), (whole, 5), (whole, 2)))
    assert weights.keys() == expected.keys() and any(not torch.equal(expected[k], start[k]) for k in expected)
    for name in weights:
        torch.testing.assert_close(weights[name], expected[name], rtol=1e-5, atol=1e-6)
    if trainer == "ppo":
        critic, expected_critic = critics[str(resumed.trainer_state_dir)], critics[str(whole.trainer_state_dir)]
        assert critic.keys() == expected_critic.keys() and expected_critic["head.weight"].abs().sum() > 0
        for name in critic:
            torch.testing.assert_close(critic[name], expected_critic[name], rtol=1e-5, atol=1e-6)
