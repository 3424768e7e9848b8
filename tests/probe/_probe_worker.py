"""One process of the multi-process probe test: `torchrun --nproc_per_node 2 tests/probe/_probe_worker.py OUT`.

Builds the same tiny model and examples in every process (fixed seeds) and probes them into OUT.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/, for helpers

from helpers import random_examples, tiny_llama  # noqa: E402

from probscope.probe import probe_examples  # noqa: E402

EXAMPLES, SHARD_SIZE = 23, 4


def probe(out_dir: str):
    return probe_examples(tiny_llama(), None, random_examples(EXAMPLES, 300, seed=11), out_dir, run="mp", step=3,
                          shard_size=SHARD_SIZE, progress=False)


if __name__ == "__main__":
    probe(sys.argv[1])
