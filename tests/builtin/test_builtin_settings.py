"""The built-in settings: every packaged recipe, pointed at a runs root and given its --smoke overrides, is a
valid recipe whose smoke settings win over the recipe's own."""

import json
from pathlib import Path

import pytest

from probscope.builtin import RECIPES
from probscope.builtin.settings import SMOKE_MODEL, builtin_recipe, smoke_overrides, smoke_settings
from probscope.runs import Run
from probscope.training.config import recipe_configs

RECIPE_NAMES = sorted(path.name.removesuffix(".yaml") for path in RECIPES.iterdir() if path.name.endswith(".yaml"))


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Run:
    """A base run with one (empty) checkpoint: what the fine-tuning recipes start from."""
    root = tmp_path_factory.mktemp("runs")
    (Run(root / "base").checkpoint(7)).mkdir(parents=True)
    (Run(root / "base").checkpoint(7) / "config.json").write_text("{}")
    return Run(root / "base")


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_every_builtin_recipe_with_its_smoke_overrides_is_a_valid_recipe(name, base_run):
    root = base_run.root.parent
    recipe = builtin_recipe(name, root)
    run_cfg, _, train_cfg = recipe_configs({**recipe, **smoke_overrides(name)})
    assert run_cfg.runs_root == str(root) and Path(run_cfg.data).is_relative_to(root)
    if name == "base":
        assert json.loads(run_cfg.model_config) == SMOKE_MODEL and run_cfg.checkpoints == "final"
    else:
        assert run_cfg.model == str(base_run.checkpoint(7))
        assert run_cfg.checkpoints == ("0,1" if name in ("grpo", "ppo") else "0,2")
    assert train_cfg.max_steps == (2 if name in ("grpo", "ppo") else 4) and train_cfg.per_device_train_batch_size == 4


def test_smoke_keeping_the_steps_changes_only_the_model_and_batch():
    assert smoke_overrides("sft", keep_steps=True).keys() == {"per_device_train_batch_size", "use_cpu", "disable_tqdm"}
    assert "model_config" in smoke_overrides("base", keep_steps=True)
    _, overrides, _, rl_runs = smoke_settings()
    assert set(overrides) == set(RECIPE_NAMES) and rl_runs == ("grpo", "ppo")
