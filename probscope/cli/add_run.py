"""`probscope add-run NAME --method M --checkpoints DIR_OR_GLOB`: checkpoints trained elsewhere as a run."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("add-run")
def add_add_run_command(sub) -> None:
    p = sub.add_parser(
        "add-run", help="register checkpoints trained elsewhere as a run (symbolic links, no copies)",
        description="Each checkpoint folder (config.json, or adapter_config.json for LoRA) becomes "
                    "<runs>/<name>/checkpoints/step-N, N from the end of its name (checkpoint-500 -> 500), or "
                    "--step N for one folder (a base model: --step 0). "
                    "Then `probscope probe --run <runs>/<name> --data FILE` probes them all.",
    )
    p.add_argument("name", help="run name (letters, digits, . _ + -)")
    p.add_argument("--method", required=True, help="the run's label in figures: base, sft, dft, dpo, grpo, ...")
    p.add_argument("--checkpoints", required=True,
                   help="a folder of checkpoint folders, one checkpoint folder, or a quoted glob ('ckpts/checkpoint-*')")
    p.add_argument("--step", type=int, help="register the one model folder --checkpoints names at this step "
                                            "(e.g. 0 for the base model)")
    p.add_argument("--runs", default="runs", help="runs directory (default: %(default)s)")
    p.add_argument("--base", help="the model the checkpoints started from (path or hub name), for the record")
    p.add_argument("--data", help="the training data file, for the record (and the default --data of probe --run)")
    p.add_argument("--tokenizer", help="tokenizer to probe with when the checkpoints hold none")
    p.add_argument("--tokenization", choices=["probscope", "trl"],
                   help="how probes tokenize the data: trl (as TRL's SFTTrainer did; the default for checkpoints "
                        "it wrote, found from its model card) or probscope. Register a base model compared with "
                        "TRL runs with --tokenization trl, so that their tokens pair")
    p.add_argument("--extend", action="store_true",
                   help="add checkpoints from another folder to an existing run (refused without it)")
    p.set_defaults(func=run_add_run)


def run_add_run(args) -> None:
    from probscope.runs.add import add_run

    run = add_run(args.runs, args.name, method=args.method, checkpoints=args.checkpoints, base=args.base,
                  data=args.data, tokenizer=args.tokenizer, step=args.step, tokenization=args.tokenization,
                  extend=args.extend)
    steps = run.checkpoint_steps()
    tokenization = run.read_manifest().config.get("tokenization")
    print(f"probscope add-run: {run.root} ({args.method}) with {len(steps)} checkpoints, steps "
          f"{', '.join(map(str, steps))}" + (f"; probes tokenize as {tokenization}" if tokenization else ""))
