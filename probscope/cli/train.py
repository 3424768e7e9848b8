"""`probscope train RECIPE.yaml [--key value ...]`: train one run."""

from __future__ import annotations

from pathlib import Path

from probscope.cli.commands import COMMANDS


@COMMANDS.register("train")
def add_train_command(sub) -> None:
    p = sub.add_parser(
        "train", help="train one run from a recipe YAML (flags override its keys)", add_help=False,
        description="probscope train RECIPE.yaml [--key value ...]; `probscope train --help` lists every key "
                    "(`probscope train --trainer dpo --help`: the keys of the dpo or grpo trainer).",
    )

    p.set_defaults(func=run_train)


def run_train(args) -> None:
    from probscope import devices
    from probscope.training.config import load_recipe_file, recipe_parser, trainer_from
    from probscope.training.run import main

    if {"-h", "--help"} & set(args.recipe_args):
        argv = args.recipe_args
        recipe = load_recipe_file(Path(argv[0])) if argv and not argv[0].startswith("-") else {}
        recipe_parser(trainer_from(argv, recipe)).print_help()
        return
    main(args.recipe_args)
    devices.exit_launched_process()   # under torchrun / accelerate launch: skip gloo's teardown (see there)
