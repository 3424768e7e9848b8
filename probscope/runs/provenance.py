"""Where a checkpoint came from, read from the files beside it: was it written by TRL's SFTTrainer?

    written_by_trl_sft("ckpts/checkpoint-30")       # True: TRL's model card (tags trl, sft) beside it

The run layout's business (add-run records it, the probe picks TRL's tokenization from it), so it lives here,
below every stage; `probscope.data.trl_parity` tokenizes the way TRL did.
"""

from __future__ import annotations

import re
from pathlib import Path

TOKENIZATIONS = ("probscope", "trl")
_CARD = "README.md"                        # TRL writes its model card into the training output folder
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---", re.S)
_TAG = re.compile(r"^\s*-\s*(\S+)\s*$", re.M)


def written_by_trl_sft(folder: str | Path) -> bool:
    """True when `folder` (a checkpoint, or the final model) was saved by TRL's SFTTrainer: its model card, in
    the folder or its parent (the trainer's output_dir), is tagged both `trl` and `sft`. A probscope run's own
    trainer state (beside its manifest.json) is not: probscope pre-tokenizes what it trains on."""
    folder = Path(folder).resolve()
    for where in (folder, folder.parent):
        card = where / _CARD
        if card.is_file():
            if (where.parent / "manifest.json").is_file():
                return False
            match = _FRONT_MATTER.match(card.read_text(encoding="utf-8", errors="replace"))
            return match is not None and {"trl", "sft"} <= set(_TAG.findall(match.group(1)))
    return False
