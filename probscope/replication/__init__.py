"""The built-in replication of the DFT paper's claims at laptop scale: several seeds, every method, with CIs.

    probscope replicate                      # = make replicate: runs/replicate/ -> results/
    from probscope.replication import ReplicationConfig, replicate, write_results

config.py: what runs (seeds, gate, fine-tuning lr and steps); methods.py: the methods compared;
pipeline.py: gated bases, training, probing, evaluation (resumable); report.py: tables over seeds and the
verdicts; figures.py: the figures of results/.
"""

from probscope.replication.config import ReplicationConfig
from probscope.replication.pipeline import replicate
from probscope.replication.report import write_results

__all__ = ["ReplicationConfig", "replicate", "write_results"]
