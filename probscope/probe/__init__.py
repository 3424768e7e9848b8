"""The probing engine: per-target-token probabilities of a causal LM, into Parquet shards.

    from probscope.probe import probe_checkpoint, read_probe_table
    probe_checkpoint("runs/sft/checkpoints/step-000100", examples, "out/probe", run="sft", step=100)
    probe_run("runs/sft", "gsm8k_test.jsonl")   # every checkpoint not probed yet -> runs/sft/probes/gsm8k_test/
    read_probe_table("out/probe")      # polars DataFrame with probscope.schema.TOKEN_COLUMNS (checked first)

api.py: probe_examples, probe_checkpoint; config.py: ProbeOptions/ProbeConfig (every option, its default
and its `probscope probe` flag); planning.py: examples -> shards; head.py: body once, LM head on targets;
batching.py: shard -> batches -> rows; state.py: plan claim, finished shards, completion marker;
run.py: every checkpoint of a run; table.py: writing shards, and reading them back after checking
them against the completion marker (imports no torch, so the dashboard stays light). The statistics
themselves: probscope.token_stats. Loading models: probscope.models.
"""

from probscope.probe.config import ProbeConfig, ProbeOptions

# name -> module that defines it, imported on first use (the engine imports torch, the tables polars: the
# GPU script, probscope.perf.gpu, runs the engine where polars is not installed)
_LAZY = {
    "read_probe_table": "probscope.probe.table",
    "scan_probe_table": "probscope.probe.table",
    "ProbeSummary": "probscope.probe.state",
    "probe_checkpoint": "probscope.probe.api",
    "probe_examples": "probscope.probe.api",
    "probe_run": "probscope.probe.run",
    "load_tokenizer": "probscope.models",
    "token_statistics": "probscope.token_stats",
}
__all__ = [*_LAZY, "ProbeConfig", "ProbeOptions"]


def __getattr__(name: str):
    """Load torch and transformers (or polars) only when an engine (table) function is first used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'probscope.probe' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
