"""Training entry point for launchers that want a script path:

    accelerate launch --num_processes 8 train/train.py train/numina-dft.yaml
    torchrun --nproc_per_node 2 train/train.py train/builtin-sft.yaml --use_cpu true

Same as `probscope train RECIPE.yaml [--key value ...]`.
"""

import sys

from probscope.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
