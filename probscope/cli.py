"""`probscope` command line: thin subcommands that parse flags, call the library and report.

    probscope demo [--no-serve]        build the built-in runs (and start the dashboard)
    probscope train RECIPE.yaml        fine-tune / pretrain per a recipe (flags override its keys)
    probscope probe --model PATH --data FILE --out DIR
    probscope export --runs DIR --out DIR --format png,pdf

Errors meant for users (ProbscopeError) print as one line and exit 2; `--debug` shows the traceback.
Each subcommand imports its heavy dependencies only when it runs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys

from probscope.errors import ProbscopeError


# ---- probe -----------------------------------------------------------------------------------------
def _add_probe(sub) -> None:
    import dataclasses

    from probscope.datasets import DataFormat

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
    from probscope.datasets import DataFormat, encode_file
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


# ---- export ----------------------------------------------------------------------------------------
def _add_export(sub) -> None:
    from probscope.runs import DEFAULT_PROBE_DATASET

    p = sub.add_parser("export", help="write Figure 2 and the lowest-bin token listing for a runs directory")
    p.add_argument("--runs", default="runs", help="runs directory (default: ./runs, the built-in demo runs)")
    p.add_argument("--out", required=True, help="directory to write the figures and their CSV tables into")
    p.add_argument("--format", default="png,pdf", help="comma-separated image formats (default: png,pdf)")
    p.add_argument("--dataset", default=DEFAULT_PROBE_DATASET, help="probed dataset to read (default: %(default)s)")
    p.add_argument("--step", default="last", help="'last' (default), 'all', or comma-separated steps")
    p.add_argument("--run", action="append", dest="run_names", metavar="NAME",
                   help="only this run (repeat for several; default: every run with finished probe tables)")
    p.set_defaults(func=_export)


def _export(args) -> None:
    import time

    from probscope.plots.export import export_figures

    start = time.perf_counter()
    paths = export_figures(
        args.runs, args.out, formats=args.format.split(","), dataset=args.dataset,
        steps=_parse_steps(args.step), runs=args.run_names,
    )
    kinds = ", ".join(sorted({path.suffix.lstrip(".") for path in paths}))
    names = ", ".join(dict.fromkeys(path.stem for path in paths))
    print(f"probscope export: wrote {len(paths)} files ({names} as {kinds}) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")


def _parse_steps(text: str) -> str | list[int]:
    if text in ("last", "all"):
        return text
    try:
        return [int(step) for step in text.split(",")]
    except ValueError:
        raise ProbscopeError(f"--step: '{text}' is not 'last', 'all' or comma-separated step numbers") from None


# ---- train / demo ----------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train one run from a recipe YAML (flags override its keys)", add_help=False,
        description="probscope train RECIPE.yaml [--key value ...]; `probscope train --help` lists every key.",
    )

    def run(args) -> None:
        from probscope import training

        if {"-h", "--help"} & set(args.recipe_args):
            training.recipe_parser().print_help()
            return
        training.main(args.recipe_args)

    p.set_defaults(func=run)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="build the built-in runs (base, SFT, DFT, probes) and start the dashboard")
    p.add_argument("--runs", default="runs", help="runs directory to build into and show (default: runs)")
    p.add_argument("--no-serve", action="store_true", help="build the runs and exit without starting the dashboard")
    p.add_argument("--port", type=int, default=8501, help="dashboard port on 127.0.0.1")

    def run(args) -> None:
        from probscope import demo

        demo.build_demo_runs(args.runs)
        if not args.no_serve:
            demo.serve_dashboard(args.runs, args.port)

    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="probscope", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_train, _add_probe, _add_export):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # `train` hands everything after it to the recipe parser (argparse.REMAINDER drops a leading --flag)
    args, extra = parser.parse_known_args(argv)
    if args.command == "train":
        args.recipe_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # library modules report counts (rows encoded, examples truncated) through logging
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("probscope").addHandler(handler)
    logging.getLogger("probscope").setLevel(logging.INFO)
    try:
        result = args.func(args)
    except ProbscopeError as e:
        if args.debug:
            raise
        print(f"probscope {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probscope {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
