"""Dataset adapters: any supported file/format -> token ids + target (loss) mask + per-token roles.

One layer shared by training, probing and evaluation, so the tokens a model is trained on are exactly
the tokens it is probed on.

    from probscope.data import DataFormat, encode_file
    fmt = DataFormat(kind="auto", max_length=2048)    # or prompt-completion, messages, text, numina, gsm8k, math
    examples = encode_file("gsm8k.jsonl", tokenizer, fmt)          # list[EncodedExample]

    pytest tests/data/                     # the checks, incl. the real Qwen2.5-Math tokenizer

Sources (read_records): JSONL, JSON (a list or {"data": [...]}), Parquet, CSV, a directory written by
`datasets`' save_to_disk, or — only for a name that is not a path — a hub dataset via load_dataset.

Formats are a registry of functions (record, fmt, row) -> Turns(prompt, reply, spans, answer); see
"formats" below. GSM8K replies lose their <<calculator>> annotations and end with the line
GSM8K_ANSWER_LINE instead of "#### N". Errors name the file and the row, counted from 1.

For evaluation: final_answer(record, fmt) is the reference answer (gsm8k, math, numina, and the
answer column of prompt-completion rows); render_prompt(record, tokenizer, fmt) is the text to generate from.

How a conversation becomes tokens (kinds other than "text"):
  * The chat template renders the prompt alone with add_generation_prompt=True and the prompt + reply;
    the first must be a prefix of the second. The full text is tokenized once (add_special_tokens=False:
    the template already writes BOS etc., so there is no double BOS) with character offsets.
  * Targets are the tokens starting at or after the end of the rendered prompt: the reply and what the
    template closes the turn with (EOS / end-of-turn). Whitespace the template writes after that (Qwen's
    "<|im_end|>\\n") is *not* a target: generation stops at the end-of-turn token, so the model never
    predicts it. TRL's prompt-completion path does train on it; we leave it out so that the probed tokens
    are exactly reply + end-of-turn. It stays in input_ids, so the sequence is the template's text.
  * Multi-turn `messages`: only the last assistant turn is a target; earlier turns are context, like a
    prompt. (Split a conversation into one row per assistant turn to train on every turn.)
  * Roles come from "spans" ([[start_char, end_char, role], ...] over the reply, as the built-in task
    writes them): a token takes the role of the span holding its first non-space character; targets
    outside the reply (end-of-turn) are "special"; reply tokens in no span are None; non-targets None.

"text" kind: the whole text is a target except the first token (nothing predicts it); BOS is prepended
when the tokenizer has one. No EOS is appended.

tokenization="trl" (DataFormat.tokenization; what add-run records for checkpoints TRL's SFTTrainer wrote):
none of the above; the rows go through TRL's own dataset preparation (probscope/data/trl_parity.py), so
the ids are exactly those TRL trained on: a text prompt tokenized with the tokenizer's special tokens,
EOS appended to a text completion, the completion (a chat row's last assistant turn) as targets. Roles
are None. example_id is the same in both tokenizations.

example_id: the first 16 hex digits of sha1 over the canonical JSON of what the format read (prompt
turns and reply, or the text) — not the row index, the tokenizer or the system prompt — so it is the
same across runs, tokenizers and processes. A repeated record gets "#2", "#3", ... in order of appearance.
"""

from probscope.data.encoding import (
    EncodedExample,
    attach_chat_template,
    encode_file,
    encode_records,
    prompt_messages,
    render_prompt,
)
from probscope.data.formats import (
    GSM8K_ANSWER_LINE,
    DataFormat,
    Row,
    Turns,
    detect_kind,
    final_answer,
    format_kinds,
    last_boxed,
    read_turns,
    register_format,
)
from probscope.data.sources import read_records

__all__ = [
    "GSM8K_ANSWER_LINE", "DataFormat", "EncodedExample", "attach_chat_template", "Row", "Turns", "detect_kind",
    "encode_file",
    "encode_records", "final_answer", "format_kinds", "last_boxed", "prompt_messages", "read_records",
    "read_turns", "register_format", "render_prompt",
]
