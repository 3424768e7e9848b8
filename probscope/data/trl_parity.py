"""Tokenize as TRL's SFTTrainer did, for checkpoints it trained (probscope.runs.provenance tells them): the probe
then sees the trainer's exact tokens.

    from probscope.data import DataFormat, encode_file
    examples = encode_file("qa.jsonl", tokenizer, DataFormat(tokenization="trl"))

TRL tokenizes a text prompt with the tokenizer's own special tokens (`tokenizer(prompt)`: BOS, and for
SentencePiece a leading "▁"), appends EOS to a text completion, renders chat turns with the template, and
trains on the tokens after the common prefix of prompt and prompt + completion. Rather than re-implement
that, the rows go through TRL's own dataset preparation (SFTTrainer._prepare_dataset, with TRL's defaults
for what the trainer derives from its arguments), so a TRL upgrade that changes it changes the probe too.

Targets are TRL's labels (minus the first token, which nothing predicts): for prompt/completion and chat
rows the completion (a chat row's last assistant turn, as probscope probes it everywhere) and EOS; for
text rows every token. Roles are unknown (None): spans are probscope's own encoding.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from probscope.data.formats import FORMATS, DataFormat, Row
from probscope.errors import ProbscopeError, first_line

logger = logging.getLogger(__name__)

def trl_rows(records: list[dict], fmt: DataFormat, kind: str, source: str) -> tuple[list[dict], list[dict]]:
    """The records in TRL's dataset columns (text; prompt + completion, as text or chat turns), and for each
    the content its example_id hashes (the same as probscope's encoding, so ids pair across tokenizations)."""
    from probscope.data.encoding import prompt_messages

    rows: list[dict[str, Any]] = []       # plain text, or chat turns (lists of messages)
    contents: list[dict[str, Any]] = []
    for number, record in enumerate(records, start=1):
        row = Row(source, number)
        if kind == "text":
            text = row.get(record, fmt.text_column)
            if not isinstance(text, str) or not text.strip():
                raise row.error(f"empty text in field {fmt.text_column!r}")
            rows.append({"text": text})
            contents.append({"text": text})
            continue
        turns = FORMATS.get(kind)(record, fmt, row)
        if not isinstance(turns.reply, str) or not turns.reply.strip():
            raise row.error("empty reply: every example needs a non-empty assistant reply")
        if isinstance(turns.prompt, str) and fmt.system_prompt is None:
            rows.append({"prompt": turns.prompt, "completion": turns.reply})
        else:   # chat turns: TRL renders them with the template, the completion as one assistant turn
            rows.append({"prompt": prompt_messages(turns, fmt),
                         "completion": [{"role": "assistant", "content": turns.reply}]})
        contents.append({"prompt": turns.prompt, "reply": turns.reply})
    return rows, contents


def trl_tokenize(rows: list[dict], tokenizer, chat_template: str | None, source: str) -> list[tuple[list, list]]:
    """(input_ids, labels) of each row as TRL's SFTTrainer prepares them (no truncation, no packing)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    # TRL's defaults for every data setting; the others only keep TrainingArguments from checking the hardware
    args = SFTConfig(output_dir=str(Path(source).parent), max_length=None, report_to=[], bf16=False,
                     activation_checkpointing=False)
    # What SFTTrainer.__init__ derives before preparing data, with TRL's defaults (see its completion_only_loss)
    trainer_state = type("TrlDefaults", (), {
        "_tokenizer": tokenizer, "chat_template": chat_template,
        "completion_only_loss": "prompt" in rows[0] and "completion" in rows[0]})()
    try:
        prepared = SFTTrainer._prepare_dataset(trainer_state, Dataset.from_list(rows), tokenizer, args,
                                               packing=False, formatting_func=None, dataset_name=Path(source).name)
    except (AttributeError, TypeError) as e:   # a TRL whose private preparation changed shape
        raise ProbscopeError(f"{source}: TRL's SFTTrainer._prepare_dataset could not be called ({first_line(e)}); "
                             "this probscope supports TRL 1.16: pass --tokenization probscope") from None
    except ValueError as e:   # TRL's own checks (e.g. a template it cannot render)
        raise ProbscopeError(f"{source}: TRL could not tokenize the data: {first_line(e)}") from None
    return list(zip(prepared["input_ids"], prepared["labels"], strict=False))
