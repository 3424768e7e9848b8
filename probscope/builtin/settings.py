"""The settings every built-in pipeline shares (the demo, the replication, the continuum study): the packaged
recipes pointed at a runs root, the rejection-sampling settings, and the one definition of `--smoke`.

    train(builtin_recipe("sft", Path("runs/x")), **smoke_overrides("sft"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probscope.builtin import recipe_path
from probscope.runs import Run

# Rejection sampling (probscope sample) from a base: k replies per training prompt, scored by the task's verifier;
# RFT and offline DFT train on the accepted replies, DPO on the pairs, GRPO and PPO on the prompts whose pass rate
# lies in the band (the competence frontier).
SAMPLING: dict[str, Any] = {"reward": "builtin-reasoning", "k": 4, "limit": 2048,
                            "max_new_tokens": 96,   # the longest train reference reply is 79 tokens (task version 2)
                            "pass_band": "0.2,0.8"}

# The demo's schedule (`probscope demo`): the packaged recipes shortened so that all six methods are built, probed
# and evaluated in about six minutes on two cores (measured cold: README, "The demo"). `probscope demo --full`
# trains the recipes as written (16.5 min measured). The base keeps its 800 steps: every other run starts from it,
# and the recipes' documented commands name its checkpoint.
QUICK_DEMO_STEPS: dict[str, int] = {"sft": 100, "dft": 100, "facts-sft": 60, "facts-dft": 60,
                                    "dpo": 40, "grpo": 40, "ppo": 40}
QUICK_DEMO_PROBE_EXAMPLES = 500
QUICK_DEMO_SAMPLE_PROMPTS = 512

# --smoke: every stage on a small task with a 1-layer model and a few steps, so a pipeline runs in seconds.
SMOKE_TASK: dict[str, Any] = {"n_train": 40, "n_test": 8, "n_old_people": 4, "n_new_people": 4,
                              "n_pretrain_docs": 200}
SMOKE_MODEL: dict[str, int] = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                               "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 256}
SMOKE_PROBE_EXAMPLES = 12
_SMOKE_BATCH: dict[str, Any] = {"per_device_train_batch_size": 4, "use_cpu": True, "disable_tqdm": True}
# GRPO's and PPO's batch counts completions: 2 prompts x 2 generations, each at most 8 tokens
_SMOKE_ONLINE_STEPS: dict[str, Any] = {"max_steps": 2, "checkpoints": "0,1", "num_generations": 2,
                                       "max_completion_length": 8}
ONLINE_RECIPES = ("grpo", "ppo")


def builtin_recipe(name: str, runs_root: Path, base: Run | None = None) -> dict[str, Any]:
    """The packaged recipe `<name>.yaml` with its paths (written for ./runs) moved under `runs_root`; a fine-tune
    starts from `base`'s last checkpoint (default: the run `base` under `runs_root`)."""
    from probscope.training.config import load_recipe_file

    recipe = load_recipe_file(Path(str(recipe_path(name))))
    recipe["runs_root"] = str(runs_root)
    for key in ("data", "tokenizer"):
        if key in recipe:
            recipe[key] = str(runs_root / Path(recipe[key]).relative_to("runs"))
    if "model" in recipe:       # fine-tunes start from the base run's last checkpoint, however long it trained
        base = base or Run(runs_root / "base")
        recipe["model"] = str(base.checkpoint(base.checkpoint_steps()[-1]))
    return recipe


def smoke_overrides(recipe: str, *, keep_steps: bool = False) -> dict[str, Any]:
    """The recipe overrides of the built-in recipe `recipe` under --smoke: the 1-layer model (the base), batches
    of 4 on the CPU and, unless `keep_steps` (a study whose checkpoints are its subject), 4 steps (grpo, ppo: 2)."""
    overrides = ({"model_config": SMOKE_MODEL} if recipe == "base" else {}) | _SMOKE_BATCH
    if keep_steps:
        return overrides
    if recipe in ONLINE_RECIPES:
        return overrides | _SMOKE_ONLINE_STEPS
    # the base keeps its recipe's schedule (its final step only); a fine-tune saves steps 0 and 2
    return overrides | {"max_steps": 4} | ({} if recipe == "base" else {"checkpoints": "0,2"})


def smoke_settings() -> tuple[Any, dict[str, dict[str, Any]], int, tuple[str, ...]]:
    """(task, per-run recipe overrides, probe examples, RL runs) of `probscope demo --smoke`. DPO is left out:
    its pairs need accepted samples, which a 4-step model never produces; for the same reason GRPO and PPO train
    on the training split."""
    from probscope.builtin import RECIPES
    from probscope.builtin.task import TaskConfig

    names = [path.name.removesuffix(".yaml") for path in RECIPES.iterdir() if path.name.endswith(".yaml")]
    overrides = {name: smoke_overrides(name) for name in names}
    for name in ONLINE_RECIPES:   # a 4-step base has no frontier prompts: the training split ({builtin}: its folder)
        overrides[name]["data"] = "{builtin}/train.jsonl"
    return TaskConfig(**SMOKE_TASK), overrides, SMOKE_PROBE_EXAMPLES, ONLINE_RECIPES


def quick_demo_settings() -> dict[str, Any]:
    """build_demo_runs' keyword arguments of the default `probscope demo`: QUICK_DEMO_STEPS (checkpoints at
    steps 0, 10 and the quarters of each run), fewer probed examples and sampled prompts."""
    overrides = {name: {"max_steps": steps, "checkpoints": ",".join(map(str, sorted(
        {0, 10, steps // 4, steps // 2, steps})))} for name, steps in QUICK_DEMO_STEPS.items()}
    return {"overrides": overrides, "probe_examples": QUICK_DEMO_PROBE_EXAMPLES,
            "sample_prompts": QUICK_DEMO_SAMPLE_PROMPTS}
