"""The probing engine: per-target-token probabilities of a causal LM, into Parquet shards.

    from probscope.probe import probe_checkpoint, read_probe_table
    probe_checkpoint("runs/sft/checkpoints/step-000100", examples, "out/probe", run="sft", step=100)
    read_probe_table("out/probe")      # polars DataFrame with probscope.schema.TOKEN_COLUMNS

stats.py: the chunked, fused statistics; engine.py: batches, shards, resumption, processes;
table.py: reading the shards back (imports no torch, so the dashboard stays light).
"""

from probscope.probe.table import read_probe_table, scan_probe_table

_ENGINE = ("ProbeSummary", "load_model", "load_tokenizer", "probe_checkpoint", "probe_examples")
__all__ = [*_ENGINE, "read_probe_table", "scan_probe_table", "token_statistics"]


def __getattr__(name: str):
    """Load torch and transformers only when an engine function is first used."""
    if name in _ENGINE:
        from probscope.probe import engine

        return getattr(engine, name)
    if name == "token_statistics":
        from probscope.probe.stats import token_statistics

        return token_statistics
    raise AttributeError(f"module 'probscope.probe' has no attribute {name!r}")
