"""Dataset adapters: any supported file/format -> token ids + target (loss) mask + per-token roles.

One layer shared by training, probing and evaluation, so the tokens a model is trained on are exactly
the tokens it is probed on.

INTERFACE (implemented by the datasets work; other modules rely only on this):

    fmt = DataFormat(kind="auto")                     # or prompt-completion, messages, text, numina, gsm8k, math, builtin
    examples: list[EncodedExample] = encode_file(path, tokenizer, fmt)

Built-in task rows (data/builtin_task.py) are prompt/completion rows with an extra "spans" field:
[[start_char, end_char, role], ...] over the completion string; tokens take the role of the span
holding their first character; template/EOS tokens get role "special".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncodedExample:
    example_id: str                    # stable hash of the source record (same across runs/tokenizers)
    input_ids: list[int]               # full sequence: rendered prompt + reply (+ EOS)
    target_mask: list[bool]            # True where input_ids[i] is a training target (reply + EOS)
    roles: list[str | None] | None     # per-position role (probscope.schema.ROLES) or None if unknown
