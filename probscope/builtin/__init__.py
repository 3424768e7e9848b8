"""The built-in task (task.py), its word-level tokenizer (tokenizer.py) and the recipes of the demo runs
(recipes/*.yaml, shipped inside the package so `probscope demo` works from an installed wheel).

    python -m probscope.builtin.task --out runs/data/builtin
    probscope train train/builtin-sft.yaml       # train/builtin-*.yaml link to recipes/ in a checkout
"""

from importlib import resources

RECIPES = resources.files("probscope.builtin") / "recipes"


def recipe_path(name: str):
    """The packaged recipe of the built-in run `name` (base, sft, dft, facts-sft, facts-dft)."""
    return RECIPES / f"{name}.yaml"
