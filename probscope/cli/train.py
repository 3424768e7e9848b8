"""`probscope train RECIPE.yaml [--key value ...]`: train one run.

Its flags are the recipe's keys, parsed by transformers.HfArgumentParser from dataclasses (probscope's RunConfig
and DataFormat, TRL's trainer configs: training.config.recipe_parser), so the command takes the rest of the
command line as it is."""

from __future__ import annotations

from pathlib import Path

from probscope.cli.commands import command


@command("train", takes_rest=True, help="train one run from a recipe YAML (flags override its keys)",
         description="probscope train RECIPE.yaml [--key value ...]; `probscope train --help` lists every key "
                     "(`probscope train --trainer dpo --help`: the keys of the dpo or grpo trainer).")
def run_train(recipe_args: list[str]) -> None:
    from probscope import devices
    from probscope.training.config import load_recipe_file, recipe_parser, trainer_from
    from probscope.training.run import main

    if {"-h", "--help"} & set(recipe_args):
        recipe = load_recipe_file(Path(recipe_args[0])) if recipe_args and not recipe_args[0].startswith("-") else {}
        recipe_parser(trainer_from(recipe_args, recipe)).print_help()
        return
    main(recipe_args)
    devices.exit_launched_process()   # under torchrun / accelerate launch: skip gloo's teardown (see there)
