"""The probe's options and their defaults: the one place for both (no torch imported).

    from probscope.probe.config import ProbeConfig, ProbeOptions
    ProbeOptions(batch_size="8", compile="off")      # -> batch_size=8, compile=False (as flags spell them)
    ProbeOptions(shard_size=0)                       # ProbscopeError: --shard-size: 0 is not a positive integer

ProbeOptions are the keyword options of probe_examples / probe_checkpoint; ProbeConfig adds what
`probscope probe` needs besides (data, a run or a model and its output, run name, step, limit, tokenizer,
trust_remote_code). Every field whose metadata
does not say "flag": False is a `probscope probe` flag, spelled --shard-size or --shard_size; max_length
and overflow come from the data format's flags of the same names instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from probscope.errors import ProbscopeError

if TYPE_CHECKING:
    import torch

# Padded tokens per batch when batch_size="auto"; halved on out-of-memory.
AUTO_BATCH_TOKENS = {"cpu": 8192, "cuda": 65536, "mps": 16384}
_COMPILE: dict[bool | str, bool | str] = {"auto": "auto", "on": True, "off": False, True: True, False: False}


@dataclass(kw_only=True)
class ProbeOptions:
    """How to probe: batching, device, output shards. Numbers are checked here, naming the flag."""

    batch_size: int | str = field(default="auto", metadata={
        "help": "examples per batch, or auto (a padded-token budget per device; halved on out-of-memory)"})
    device: str | torch.device = field(default="auto", metadata={
        "help": "auto (cuda, mps, cpu), or a torch device such as cuda:1"})
    dtype: str | torch.dtype | None = field(default=None, metadata={
        "help": "run the model in this dtype (float32, bfloat16, float16; default: as saved)"})
    shard_size: int = field(default=256, metadata={
        "help": "examples per output shard: the unit of resuming"})
    chunk_size: int | None = field(default=None, metadata={
        "help": "target tokens per LM-head block (default: from the vocabulary size and the device)"})
    compile: bool | str = field(default="auto", metadata={
        "help": "torch.compile the statistics (auto: when the job is large enough to repay compiling)",
        "choices": ("auto", "on", "off")})
    max_length: int | None = field(default=None, metadata={
        "help": "longest sequence fed to the model (default: the model's max_position_embeddings)", "flag": False})
    overflow: str = field(default="truncate", metadata={
        "help": "longer examples: truncate (cut them, warn with the count) or drop (leave them out, warn); "
                "the same words as probscope.data.DataFormat.overflow", "flag": False})
    progress: bool = field(default=True, metadata={"help": "show a progress bar (on rank 0)", "flag": False})
    summary_bins: tuple[float, ...] | str = field(default=(), metadata={
        "help": "p edges the summary tables also count by, besides Figure 2's (comma list, e.g. 0.5,0.99)"})

    def __post_init__(self) -> None:
        if self.batch_size != "auto":
            text = str(self.batch_size)
            if not text.isdigit() or int(text) < 1:
                raise ProbscopeError(f"--batch-size: {text!r} is not 'auto' or a positive integer")
            self.batch_size = int(text)
        _require_positive(self, "shard_size", "chunk_size", "max_length")
        if self.compile not in _COMPILE:
            raise ProbscopeError(f"--compile: {self.compile!r} is not auto, on or off")
        self.compile = _COMPILE[self.compile]
        self.summary_bins = _edges(self.summary_bins)
        if self.overflow not in ("truncate", "drop"):
            raise ProbscopeError(f"overflow={self.overflow!r}: use 'truncate' or 'drop'")

    def options(self) -> dict[str, Any]:
        """The ProbeOptions fields as keyword arguments of probe_examples / probe_checkpoint."""
        return {f.name: getattr(self, f.name) for f in fields(ProbeOptions)}


@dataclass(kw_only=True)
class ProbeConfig(ProbeOptions):
    """`probscope probe`: which model(s) on which data into which directory, plus the ProbeOptions.

    Either --run RUNS_DIR/NAME (every checkpoint of a run not probed yet, into the run's own layout) or
    --model PATH --out DIR (one model, anywhere).
    """

    data: str | None = field(default=None, metadata={
        "help": "dataset file (JSONL, JSON, Parquet, CSV) or saved dataset (with --run, default: the run's "
                "training data, named in its manifest)"})
    run: str | None = field(default=None, metadata={
        "help": "run directory (RUNS_DIR/NAME): probe each of its checkpoints not probed yet on this dataset, "
                "into RUN/probes/DATASET/step-N"})
    dataset: str | None = field(default=None, metadata={
        "help": "with --run: the dataset's name in the run (default: the data file's name without extension; "
                "train for the run's own training data)"})
    model: str | None = field(default=None, metadata={
        "help": "one model directory (save_pretrained, or a LoRA adapter) or hub name, probed into --out"})
    out: str | None = field(default=None, metadata={
        "help": "with --model: directory for the probe table (part-*.parquet + completion marker)"})
    run_name: str | None = field(default=None, metadata={
        "help": "with --model: run name stored in each row (default: the run holding the checkpoint, "
                "else the model directory's name)"})
    step: int | None = field(default=None, metadata={
        "help": "with --model: step stored in each row (default: N of a step-N model directory, else 0)"})
    limit: int | None = field(default=None, metadata={"help": "probe only the first N rows of the dataset"})
    tokenizer: str | None = field(default=None, metadata={
        "help": "tokenizer directory or hub name (default: the checkpoint's own, else the run's manifest "
                "config 'tokenizer', else its base model's)"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "allow a model or tokenizer to run its own Python code (auto_map); off by default"})

    def __post_init__(self) -> None:
        super().__post_init__()
        _require_positive(self, "limit")
        if (self.run is None) == (self.model is None):
            raise ProbscopeError("give either --run RUNS_DIR/NAME (every checkpoint of a run) or --model PATH "
                                 "--out DIR (one model), " + ("not both" if self.run else "one of them"))
        only_with = {"--out": (self.out, "model"), "--run-name": (self.run_name, "model"),
                     "--step": (self.step, "model"), "--dataset": (self.dataset, "run")}
        for flag, (value, mode) in only_with.items():
            if value is not None and getattr(self, mode) is None:
                raise ProbscopeError(f"{flag}: only with --{mode}" + (
                    " (a run's probes go to RUN/probes/DATASET/step-N, named and numbered by the run)"
                    if mode == "model" else ""))
        if self.model is not None and self.out is None:
            raise ProbscopeError("--out: required with --model (the directory for the probe table)")
        if self.model is not None and self.data is None:
            raise ProbscopeError("--data: required with --model (the dataset file to probe)")


def _edges(value: tuple[float, ...] | str) -> tuple[float, ...]:
    """--summary-bins as numbers, each strictly between 0 and 1."""
    parts = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else list(value)
    try:
        edges = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise ProbscopeError(f"--summary-bins: {value!r} is not a comma list of numbers") from None
    bad = [edge for edge in edges if not 0.0 < edge < 1.0]
    if bad:
        raise ProbscopeError(f"--summary-bins: {bad[0]!r} is not a p edge strictly between 0 and 1")
    return edges


def _require_positive(config, *names: str) -> None:
    """Each named field is None or a positive integer, else a one-line error naming its flag."""
    by_name = {f.name: f for f in fields(config)}
    for name in names:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            flag = f"--{name.replace('_', '-')}" if by_name[name].metadata.get("flag", True) else name
            raise ProbscopeError(f"{flag}: {value!r} is not a positive integer")
