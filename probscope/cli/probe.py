"""`probscope probe`: one row per target token of a model on a dataset, into Parquet."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS
from probscope.errors import ProbscopeError


@COMMANDS.register("probe")
def add_probe_command(sub) -> None:
    import dataclasses

    from probscope.data import DataFormat

    p = sub.add_parser(
        "probe", help="probe a model on a dataset: one row per target token, into Parquet",
        description="Probe any Hugging Face causal LM on any dataset (also outside a run). With no format "
                    "flags the format is inferred from the columns (e.g. a `text` column: every token is a target). "
                    "Under torchrun each process probes its share. Read the result with "
                    "probscope.probe.read_probe_table(OUT).",
    )
    p.add_argument("--model", required=True, help="model directory (save_pretrained, with its tokenizer)")
    p.add_argument("--data", required=True, help="dataset file (JSONL, JSON, Parquet, CSV) or saved dataset")
    p.add_argument("--out", required=True, help="directory for the probe table (part-*.parquet + completion marker)")
    p.add_argument("--run", help="run name stored in each row (default: the run holding the checkpoint, else the model directory's name)")
    p.add_argument("--step", type=int, help="step stored in each row (default: N of a step-N model directory, else 0)")
    p.add_argument("--limit", type=int, help="probe only the first N rows of the dataset")
    p.add_argument("--batch-size", default="auto", help="examples per batch, or auto (halved on out-of-memory)")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), or a torch device such as cuda:1")
    p.add_argument("--dtype", help="run the model in this dtype (float32, bfloat16, float16; default: as saved)")
    p.add_argument("--shard-size", type=int, default=256, help="examples per output shard: the unit of resuming")
    p.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                   help="torch.compile the statistics (auto: when the job is large enough to repay compiling)")
    data = p.add_argument_group("data format (the same keys as a training recipe)")
    for f in dataclasses.fields(DataFormat):   # one flag per DataFormat field, so the two never drift apart
        flags = dict.fromkeys((f"--{f.name}", f"--{f.name.replace('_', '-')}"))   # both spellings, as in recipes
        data.add_argument(*flags, dest=f.name, default=f.default,
                          type=int if "int" in str(f.type) else str, help=f.metadata.get("help"))
    p.set_defaults(func=_probe)


def _probe(args) -> None:
    import dataclasses
    from pathlib import Path

    from probscope import runs
    from probscope.data import DataFormat, encode_file
    from probscope.probe import load_tokenizer, probe_checkpoint

    model = Path(args.model)
    try:
        model_step = runs.step_of(model)          # a checkpoint directory step-N
    except ProbscopeError:
        model_step = None
    in_run = model_step is not None and model.parent.name == runs.CHECKPOINTS
    batch_size = args.batch_size if args.batch_size == "auto" else _positive_int("--batch-size", args.batch_size)
    fmt = DataFormat(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DataFormat)})
    tokenizer = load_tokenizer(model)
    examples = encode_file(args.data, tokenizer, fmt, limit=args.limit)
    summary = probe_checkpoint(
        model, examples, args.out, tokenizer=tokenizer,
        run=args.run or (model.parent.parent.name if in_run else model.resolve().name),
        step=args.step if args.step is not None else (model_step or 0),
        batch_size=batch_size, device=args.device, dtype=args.dtype, shard_size=args.shard_size,
        overflow=fmt.overflow, compile={"auto": "auto", "on": True, "off": False}[args.compile],
    )
    print(f"probscope probe: {summary.line()}")


def _positive_int(flag: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ProbscopeError(f"{flag}: '{text}' is not 'auto' or a positive integer")
    return int(text)
