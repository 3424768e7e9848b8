"""`probscope add-run NAME --method M --checkpoints DIR_OR_GLOB`: checkpoints trained elsewhere as a run."""

from __future__ import annotations

from dataclasses import dataclass, field

from probscope.cli.commands import command


@dataclass
class AddRunOptions:
    name: str = field(metadata={"help": "run name (letters, digits, . _ + -)", "positional": True})
    method: str = field(metadata={"help": "the run's label in figures: base, sft, dft, dpo, grpo, ..."})
    checkpoints: str = field(metadata={
        "help": "a folder of checkpoint folders, one checkpoint folder, or a quoted glob ('ckpts/checkpoint-*')"})
    step: int | None = field(default=None, metadata={
        "help": "register the one model folder --checkpoints names at this step (e.g. 0 for the base model)"})
    runs: str = field(default="runs", metadata={"help": "runs directory"})
    base: str | None = field(default=None, metadata={
        "help": "the model the checkpoints started from (path or hub name), for the record"})
    data: str | None = field(default=None, metadata={
        "help": "the training data file, for the record (and the default --data of probe --run)"})
    tokenizer: str | None = field(default=None, metadata={
        "help": "tokenizer to probe with when the checkpoints hold none"})
    tokenization: str | None = field(default=None, metadata={
        "choices": ["probscope", "trl"],
        "help": "how probes tokenize the data: trl (as TRL's SFTTrainer did; the default for checkpoints it wrote, "
                "found from its model card) or probscope. Register a base model compared with TRL runs with "
                "--tokenization trl, so that their tokens pair"})
    extend: bool = field(default=False, metadata={
        "help": "add checkpoints from another folder to an existing run (refused without it)"})


@command("add-run", options=[AddRunOptions],
         help="register checkpoints trained elsewhere as a run (symbolic links, no copies)",
         description="Each checkpoint folder (config.json, or adapter_config.json for LoRA) becomes "
                     "<runs>/<name>/checkpoints/step-N, N from the end of its name (checkpoint-500 -> 500), or "
                     "--step N for one folder (a base model: --step 0). "
                     "Then `probscope probe --run <runs>/<name> --data FILE` probes them all.")
def run_add_run(opts: AddRunOptions) -> None:
    from probscope.runs.add import add_run

    run = add_run(opts.runs, opts.name, method=opts.method, checkpoints=opts.checkpoints, base=opts.base,
                  data=opts.data, tokenizer=opts.tokenizer, step=opts.step, tokenization=opts.tokenization,
                  extend=opts.extend)
    steps = run.checkpoint_steps()
    tokenization = run.read_manifest().config.get("tokenization")
    print(f"probscope add-run: {run.root} ({opts.method}) with {len(steps)} checkpoints, steps "
          f"{', '.join(map(str, steps))}" + (f"; probes tokenize as {tokenization}" if tokenization else ""))
