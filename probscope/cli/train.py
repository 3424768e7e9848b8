"""`probscope train RECIPE.yaml [--key value ...]`: train one run."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("train")
def add_train_command(sub) -> None:
    p = sub.add_parser(
        "train", help="train one run from a recipe YAML (flags override its keys)", add_help=False,
        description="probscope train RECIPE.yaml [--key value ...]; `probscope train --help` lists every key.",
    )

    p.set_defaults(func=run_train)


def run_train(args) -> None:
    from probscope.training.config import recipe_parser
    from probscope.training.run import main

    if {"-h", "--help"} & set(args.recipe_args):
        recipe_parser().print_help()
        return
    main(args.recipe_args)
