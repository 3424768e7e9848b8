"""`probscope probe`: one row per target token, into Parquet.

    probscope probe --run RUNS_DIR/NAME [--data FILE] [--dataset NAME] # every checkpoint of a run not probed yet
    probscope probe --model DIR --data FILE --out DIR                  # one model, anywhere

The flags are generated: one per field of probscope.probe.ProbeConfig (data, run, dataset, model, out, run
name, step, limit, tokenizer, trust-remote-code, batch size, device, dtype, shard size, chunk size, compile)
and one per field of probscope.data.DataFormat, each in both spellings (--shard-size and --shard_size, as in
recipes). Defaults and help live there.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from probscope.cli.commands import Flags, command
from probscope.data import DataFormat
from probscope.errors import ProbscopeError
from probscope.probe.config import ProbeConfig


@command("probe", options=[ProbeConfig, Flags(DataFormat, "data format (the same keys as a training recipe)")],
         help="probe a model on a dataset: one row per target token, into Parquet",
         description="Probe every checkpoint of a run (--run) or any Hugging Face causal LM (--model, --out) on "
                     "any dataset. With no format flags the format is inferred from the columns (e.g. a `text` "
                     "column: every token is a target). Under torchrun each process probes its share. Read the "
                     "result with probscope.probe.read_probe_table(DIR).")
def run_probe(cfg: ProbeConfig, fmt: DataFormat) -> None:
    from probscope import devices

    cfg.overflow = fmt.overflow   # not a flag of its own: the data format's --overflow (checked there)
    devices.resolve_device(cfg.device)   # a device this machine lacks fails before any data or weights load
    if cfg.run is not None:
        _probe_run(cfg, fmt)
    else:
        _probe_model(cfg, fmt)


def _probe_run(cfg, fmt) -> None:
    from probscope.probe.run import probe_run

    summaries = probe_run(cfg.run, cfg.data, fmt, dataset=cfg.dataset, tokenizer=cfg.tokenizer, limit=cfg.limit,
                          trust_remote_code=cfg.trust_remote_code, **cfg.options())
    for summary in summaries:
        print(f"probscope probe: {summary.line()}")
    new = [s.step for s in summaries if not s.already_done]
    print(f"probscope probe: run {cfg.run}: probed {len(new)} checkpoint(s)"
          + (f" (steps {', '.join(map(str, new))})" if new else "")
          + f", {len(summaries) - len(new)} already probed -> {Path(summaries[0].out_dir).parent}")


def _probe_model(cfg, fmt) -> None:
    from probscope import runs
    from probscope.data import encode_file
    from probscope.models import adapter_base, has_tokenizer, is_adapter, load_tokenizer, require_model_dir
    from probscope.probe import probe_checkpoint
    from probscope.runs.provenance import written_by_trl_sft
    from probscope.runs.writable import check_directory

    check_directory(cfg.out, "--out")   # before any weights load
    model = require_model_dir(cfg.model)
    try:
        model_step = runs.step_of(model)          # a checkpoint directory step-N
    except ProbscopeError:
        model_step = None
    in_run = model_step is not None and model.parent.name == runs.CHECKPOINTS
    # a LoRA adapter saved without a tokenizer uses its base model's
    source = cfg.tokenizer or (adapter_base(model) if is_adapter(model) and not has_tokenizer(model) else model)
    tokenizer = load_tokenizer(source, trust_remote_code=cfg.trust_remote_code)
    if fmt.tokenization is None and written_by_trl_sft(model):
        print(f"probscope probe: {model} was written by TRL's SFTTrainer: tokenizing as it did "
              "(--tokenization probscope for probscope's rendering)")
        fmt = dataclasses.replace(fmt, tokenization="trl")
    examples = encode_file(cfg.data, tokenizer, fmt, limit=cfg.limit)
    summary = probe_checkpoint(
        model, examples, cfg.out, tokenizer=tokenizer, trust_remote_code=cfg.trust_remote_code,
        run=cfg.run_name or (model.parent.parent.name if in_run else model.resolve().name),
        step=cfg.step if cfg.step is not None else (model_step or 0),
        **cfg.options(),
    )
    print(f"probscope probe: {summary.line()}")
