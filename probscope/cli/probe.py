"""`probscope probe --model DIR --data FILE --out DIR [options]`: one row per target token, into Parquet.

The flags are generated: one per field of probscope.probe.ProbeConfig (model, data, out, run, step, limit,
batch size, device, dtype, shard size, chunk size, compile) and one per field of probscope.data.DataFormat,
each in both spellings (--shard-size and --shard_size, as in recipes). Defaults and help live there.
"""

from __future__ import annotations

import dataclasses

from probscope.cli.commands import COMMANDS
from probscope.errors import ProbscopeError


@COMMANDS.register("probe")
def add_probe_command(sub) -> None:
    from probscope.data import DataFormat
    from probscope.probe.config import ProbeConfig

    p = sub.add_parser(
        "probe", help="probe a model on a dataset: one row per target token, into Parquet",
        description="Probe any Hugging Face causal LM on any dataset (also outside a run). With no format "
                    "flags the format is inferred from the columns (e.g. a `text` column: every token is a target). "
                    "Under torchrun each process probes its share. Read the result with "
                    "probscope.probe.read_probe_table(OUT).",
    )
    _add_flags(p, ProbeConfig)
    _add_flags(p.add_argument_group("data format (the same keys as a training recipe)"), DataFormat)
    p.set_defaults(func=_probe)


def _add_flags(parser, config_class) -> None:
    """One flag per dataclass field (those not marked "flag": False), so the flags never drift from the
    fields: required (and listed first) when the field has no default, an int when the field is one,
    choices from metadata."""
    for f in sorted(_flag_fields(config_class), key=lambda f: f.default is not dataclasses.MISSING):
        flags = dict.fromkeys((f"--{f.name.replace('_', '-')}", f"--{f.name}"))
        required = f.default is dataclasses.MISSING
        parser.add_argument(*flags, dest=f.name, required=required, default=None if required else f.default,
                            type=int if str(f.type) in ("int", "int | None") else str,
                            choices=f.metadata.get("choices"), help=f.metadata.get("help"))


def _flag_fields(config_class) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if f.metadata.get("flag", True)]


def _probe(args) -> None:
    from probscope import runs
    from probscope.data import DataFormat, encode_file
    from probscope.models import load_tokenizer, require_model_dir
    from probscope.probe import probe_checkpoint
    from probscope.probe.config import ProbeConfig

    fmt = DataFormat(**{f.name: getattr(args, f.name) for f in _flag_fields(DataFormat)})
    cfg = ProbeConfig(**{f.name: getattr(args, f.name) for f in _flag_fields(ProbeConfig)}, overflow=fmt.overflow)
    model = require_model_dir(cfg.model)
    try:
        model_step = runs.step_of(model)          # a checkpoint directory step-N
    except ProbscopeError:
        model_step = None
    in_run = model_step is not None and model.parent.name == runs.CHECKPOINTS
    tokenizer = load_tokenizer(model)
    examples = encode_file(cfg.data, tokenizer, fmt, limit=cfg.limit)
    summary = probe_checkpoint(
        model, examples, cfg.out, tokenizer=tokenizer,
        run=cfg.run or (model.parent.parent.name if in_run else model.resolve().name),
        step=cfg.step if cfg.step is not None else (model_step or 0),
        **cfg.options(),
    )
    print(f"probscope probe: {summary.line()}")
