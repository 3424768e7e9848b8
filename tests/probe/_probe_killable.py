"""A probe to kill: `python tests/probe/_probe_killable.py OUT [--pause SECONDS]`, one shard per two examples, or
`python tests/probe/_probe_killable.py --pause SECONDS --cli probe --run RUN ...` (the command line's probe).

OUT: probes the same tiny model and examples as probe() in the test process (fixed seeds, one thread). With
--pause, every Parquet file is held complete under its temporary name for SECONDS before it is renamed, so
that a test can SIGKILL the process mid-run and mid-write (a half-written shard's temporary file exists
then); the rows are the same as without the pause.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/, for helpers

from helpers import random_examples, tiny_llama  # noqa: E402

EXAMPLES, SHARD_SIZE = 16, 2


def probe(out_dir):
    from probscope.probe import probe_examples

    return probe_examples(tiny_llama(), None, random_examples(EXAMPLES, 300, seed=21), out_dir, run="killed", step=4,
                          shard_size=SHARD_SIZE, batch_size=1, progress=False)


if __name__ == "__main__":
    import polars as pl
    import torch

    torch.set_num_threads(1)
    if "--pause" in sys.argv:
        pause = float(sys.argv[sys.argv.index("--pause") + 1])
        write = pl.DataFrame.write_parquet

        def slow_write(frame, file, **options):
            write(frame, file, **options)
            time.sleep(pause)

        pl.DataFrame.write_parquet = slow_write
    if "--cli" in sys.argv:
        from probscope.cli import main

        sys.exit(main(sys.argv[sys.argv.index("--cli") + 1:]))
    probe(sys.argv[1])
