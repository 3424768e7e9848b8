"""Dataset adapters: any supported file/format -> token ids + target (loss) mask + per-token roles.

One layer shared by training, probing and evaluation, so the tokens a model is trained on are exactly
the tokens it is probed on.

    from probscope.datasets import DataFormat, encode_file
    fmt = DataFormat(kind="auto", max_length=2048)    # or prompt-completion, messages, text, numina, gsm8k, math
    examples = encode_file("gsm8k.jsonl", tokenizer, fmt)          # list[EncodedExample]

    pytest tests/test_datasets.py                     # the checks, incl. the real Qwen2.5-Math tokenizer

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

example_id: the first 16 hex digits of sha1 over the canonical JSON of what the format read (prompt
turns and reply, or the text) — not the row index, the tokenizer or the system prompt — so it is the
same across runs, tokenizers and processes. A repeated record gets "#2", "#3", ... in order of appearance.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from probscope.errors import ProbscopeError
from probscope.schema import ROLES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedExample:
    example_id: str                    # stable hash of the source record (same across runs/tokenizers)
    input_ids: list[int]               # full sequence: rendered prompt + reply (+ EOS)
    target_mask: list[bool]            # True where input_ids[i] is a training target (reply + EOS)
    roles: list[str | None] | None     # per-position role (probscope.schema.ROLES) or None if unknown


# ---- the configuration ------------------------------------------------------------------------------
@dataclass
class DataFormat:
    """How to read a dataset's rows; every field is also a CLI flag via transformers.HfArgumentParser."""

    kind: str = field(default="auto", metadata={
        "help": "row format: auto, prompt-completion, messages, text, numina, gsm8k, math "
                "(auto: messages -> messages, prompt+completion -> prompt-completion, "
                "problem+solution(+answer) -> numina (math), question+answer with '####' -> gsm8k, text -> text)"})
    prompt_column: str = field(default="prompt", metadata={"help": "prompt column (prompt-completion)"})
    completion_column: str = field(default="completion", metadata={"help": "reply column (prompt-completion)"})
    messages_column: str = field(default="messages", metadata={"help": "chat column (messages): [{role, content}]"})
    text_column: str = field(default="text", metadata={"help": "text column (text)"})
    answer_column: str = field(default="answer", metadata={
        "help": "reference-answer column for evaluation (prompt-completion, math), used when present"})
    max_length: int | None = field(default=None, metadata={"help": "longest sequence in tokens (None: no limit)"})
    overflow: Literal["truncate", "drop"] = field(default="truncate", metadata={
        "help": "what to do with longer examples: truncate (keep the targets that fit) or drop"})
    chat_template: str | None = field(default=None, metadata={
        "help": "Jinja chat template (or a file holding one) used when the tokenizer has none"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "system message put before the prompt (rows that bring their own keep theirs)"})

    def __post_init__(self) -> None:
        if self.kind not in format_kinds():
            raise ProbscopeError(f"unknown data format kind {self.kind!r}: use one of {', '.join(format_kinds())}")
        if self.overflow not in ("truncate", "drop"):
            raise ProbscopeError(f"unknown overflow {self.overflow!r}: use truncate or drop")
        if self.max_length is not None and self.max_length < 2:
            raise ProbscopeError(f"max_length must be at least 2 tokens, got {self.max_length}")


# ---- reading records ----------------------------------------------------------------------------------
def read_records(path: str | Path, split: str = "train") -> list[dict]:
    """Rows of a JSONL/JSON/Parquet/CSV file, a save_to_disk directory, or (a non-path name) a hub dataset."""
    p = Path(path)
    if p.is_dir():
        return _read_saved_dataset(p, split)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".jsonl":
            return _read_jsonl(p)
        if suffix == ".json":
            return _read_json(p)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p).to_pylist()
        if suffix == ".csv":
            with p.open(newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        raise ProbscopeError(f"{p}: unsupported file type {suffix!r}: use .jsonl, .json, .parquet or .csv")
    if p.suffix or str(path).startswith((".", "/", "~")):
        raise ProbscopeError(f"{path}: no such file or directory")
    return _load_hub_dataset(str(path), split)


def _read_jsonl(p: Path) -> list[dict]:
    rows = []
    with p.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ProbscopeError(f"{p}: line {line_no}: not valid JSON ({e.msg}); fix or remove the line")
            if not isinstance(row, dict):
                raise ProbscopeError(f"{p}: line {line_no}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_json(p: Path) -> list[dict]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ProbscopeError(f"{p}: not valid JSON (line {e.lineno}: {e.msg})")
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ProbscopeError(f"{p}: expected a JSON list of objects or {{\"data\": [...]}}")
    return data


def _read_saved_dataset(p: Path, split: str) -> list[dict]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except FileNotFoundError:
        raise ProbscopeError(f"{p}: a directory, but not one written by datasets' save_to_disk")
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ProbscopeError(f"{p}: no split {split!r} (splits: {', '.join(ds)})")
        ds = ds[split]
    return ds.to_list()


def _load_hub_dataset(name: str, split: str) -> list[dict]:
    import datasets

    try:
        return datasets.load_dataset(name, split=split).to_list()
    except Exception as e:  # the hub raises many types (network, auth, missing config); report one line
        raise ProbscopeError(f"{name}: not a local path, and loading it from the hub failed: "
                             f"{type(e).__name__}: {_first_line(e)}")


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [""])[0]


# ---- formats: record -> Turns ------------------------------------------------------------------------
class Turns(NamedTuple):
    """What a format reads from one record."""

    prompt: str | list[dict]       # the user's text, or the chat turns before the reply
    reply: str                     # the assistant reply that is the target
    spans: list | None = None      # [[start_char, end_char, role], ...] over `reply`, or None
    answer: str | None = None      # reference final answer (for evaluation), or None


@dataclass(frozen=True)
class Row:
    """Where a record came from, and field access whose errors name the file, row and field."""

    source: str
    number: int     # 1-based

    def error(self, message: str) -> ProbscopeError:
        return ProbscopeError(f"{self.source}: row {self.number}: {message}")

    def get(self, record: dict, column: str) -> Any:
        if record.get(column) is None:
            raise self.error(f"missing field {column!r} (columns: {', '.join(map(str, record)) or 'none'})")
        return record[column]

    def nested(self, record: dict, column: str) -> Any:
        """A list field (messages, spans); CSV stores it as JSON text. None when absent or empty."""
        value = record.get(column)
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise self.error(f"field {column!r} is text but not valid JSON ({e.msg})")

    def messages(self, value: Any, column: str) -> list[dict]:
        """Chat turns as plain {role, content} dicts."""
        if not isinstance(value, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in value):
            raise self.error(f"field {column!r} must be a list of {{\"role\": ..., \"content\": ...}} messages")
        return [{"role": m["role"], "content": m["content"]} for m in value]


FormatFn = Callable[[dict, DataFormat, Row], Turns]
_FORMATS: dict[str, FormatFn] = {}


def register_format(name: str) -> Callable[[FormatFn], FormatFn]:
    """A new format is one function (record, fmt, row) -> Turns under this decorator (plus its test)."""
    def add(fn: FormatFn) -> FormatFn:
        _FORMATS[name] = fn
        return fn

    return add


def format_kinds() -> tuple[str, ...]:
    """Every valid DataFormat.kind."""
    return ("auto", "text", *_FORMATS)


@register_format("prompt-completion")
def _prompt_completion(record: dict, fmt: DataFormat, row: Row) -> Turns:
    """Text columns, or TRL's conversational form (prompt: chat turns, completion: [assistant turn])."""
    prompt = row.get(record, fmt.prompt_column)
    completion = row.get(record, fmt.completion_column)
    if isinstance(prompt, list):
        prompt = row.messages(prompt, fmt.prompt_column)
    if isinstance(completion, list):
        turns = row.messages(completion, fmt.completion_column)
        if len(turns) != 1 or turns[0]["role"] != "assistant":
            raise row.error(f"field {fmt.completion_column!r} must hold exactly one assistant message")
        completion = turns[0]["content"]
    answer = record.get(fmt.answer_column)
    return Turns(prompt, completion, row.nested(record, "spans"), None if answer is None else str(answer))


@register_format("messages")
def _messages(record: dict, fmt: DataFormat, row: Row) -> Turns:
    messages = row.messages(row.nested(record, fmt.messages_column), fmt.messages_column)
    if len(messages) < 2 or messages[-1]["role"] != "assistant":
        raise row.error(f"field {fmt.messages_column!r} must hold a prompt and end with an assistant turn")
    return Turns(messages[:-1], messages[-1]["content"])


@register_format("numina")
def _numina(record: dict, fmt: DataFormat, row: Row) -> Turns:
    solution = row.get(record, "solution")
    return Turns(row.get(record, "problem"), solution, answer=last_boxed(solution))


@register_format("math")
def _math(record: dict, fmt: DataFormat, row: Row) -> Turns:
    return Turns(row.get(record, "problem"), row.get(record, "solution"), answer=str(row.get(record, "answer")))


# GSM8K writes calculator annotations "<<48/2=24>>" (tool calls for its calculator, not language) and ends
# with "#### 72". The reply drops the annotations and ends with a sentence in the \boxed{} form the math
# benchmarks (and Qwen2.5-Math's system prompt) use, so one answer grader serves every dataset.
_GSM8K_CALC = re.compile(r"<<[^<>]*>>")
GSM8K_ANSWER_LINE = "The final answer is $\\boxed{{{answer}}}$."


@register_format("gsm8k")
def _gsm8k(record: dict, fmt: DataFormat, row: Row) -> Turns:
    raw = row.get(record, "answer")
    reasoning, sep, answer = raw.rpartition("####")
    if not sep:
        raise row.error("field 'answer' has no final '#### N' line (not GSM8K?)")
    answer = answer.strip()
    reply = _GSM8K_CALC.sub("", reasoning).rstrip() + "\n" + GSM8K_ANSWER_LINE.format(answer=answer)
    return Turns(row.get(record, "question"), reply.lstrip("\n"), answer=answer)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} in text (braces balanced), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def detect_kind(record: dict) -> str:
    """The format a record's columns imply (DataFormat.kind='auto')."""
    cols = set(record)
    answer = record.get("answer")
    if "messages" in cols:
        return "messages"
    if {"prompt", "completion"} <= cols:
        return "prompt-completion"
    if {"problem", "solution", "answer"} <= cols:
        return "math"
    if {"problem", "solution"} <= cols:
        return "numina"
    if {"question", "answer"} <= cols and isinstance(answer, str) and "####" in answer:
        return "gsm8k"
    if "text" in cols:
        return "text"
    raise ProbscopeError(f"cannot tell the data format from the columns ({', '.join(map(str, record))}): "
                         f"pass kind= one of {', '.join(format_kinds()[1:])} and the column names")


def _resolve_kind(records: list[dict], fmt: DataFormat, source: str) -> str:
    if fmt.kind != "auto":
        return fmt.kind
    if not records:
        raise ProbscopeError(f"{source}: no rows")
    try:
        return detect_kind(records[0])
    except ProbscopeError as e:
        raise ProbscopeError(f"{source}: {e}")


def read_turns(record: dict, fmt: DataFormat, *, source: str = "<record>", row: int = 1) -> Turns:
    """What the format reads from one record (kind 'auto' is detected from this record)."""
    kind = detect_kind(record) if fmt.kind == "auto" else fmt.kind
    if kind == "text":
        raise ProbscopeError(f"{source}: the text format has no prompt/reply turns")
    return _FORMATS[kind](record, fmt, Row(source, row))


def final_answer(record: dict, fmt: DataFormat) -> str | None:
    """The record's reference final answer when its format has one (gsm8k, math, numina's last \\boxed{})."""
    kind = detect_kind(record) if fmt.kind == "auto" else fmt.kind
    return None if kind == "text" else read_turns(record, fmt).answer


def render_prompt(record: dict, tokenizer, fmt: DataFormat, *, source: str = "<record>", row: int = 1) -> str:
    """The prompt exactly as training renders it, ending with the generation prompt: what to generate from."""
    turns = read_turns(record, fmt, source=source, row=row)
    return _apply_template(tokenizer, _chat_template(tokenizer, fmt), prompt_messages(turns, fmt),
                           Row(source, row), add_generation_prompt=True)


def prompt_messages(turns: Turns, fmt: DataFormat) -> list[dict]:
    """The chat messages before the reply, with fmt.system_prompt put first unless they bring one."""
    messages = [{"role": "user", "content": turns.prompt}] if isinstance(turns.prompt, str) else list(turns.prompt)
    if fmt.system_prompt is not None and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": fmt.system_prompt})
    return messages


# ---- encoding -----------------------------------------------------------------------------------------
_CHUNK = 256   # records rendered and tokenized per batch call (the fast tokenizer batches in Rust)


def encode_file(path: str | Path, tokenizer, fmt: DataFormat, limit: int | None = None) -> list[EncodedExample]:
    """Read a dataset (see read_records) and encode its first `limit` rows (all when None)."""
    records = read_records(path)
    return encode_records(records[:limit] if limit is not None else records, tokenizer, fmt, source=str(path))


def encode_records(records: list[dict], tokenizer, fmt: DataFormat, *, source: str = "<records>"
                   ) -> list[EncodedExample]:
    """Encode rows for training/probing: ids, target mask and roles per token (see the module doc)."""
    from tqdm.auto import tqdm

    if not getattr(tokenizer, "is_fast", False):
        raise ProbscopeError(f"{type(tokenizer).__name__} is not a fast tokenizer: character offsets are needed "
                             "to find the reply; load it with AutoTokenizer (use_fast=True)")
    kind = _resolve_kind(records, fmt, source)
    encode_chunk = _encode_text_chunk if kind == "text" else _encode_chat_chunk
    template = None if kind == "text" else _chat_template(tokenizer, fmt)
    stats = {"truncated": 0, "dropped": 0, "no_targets": 0, "no_end_of_turn": 0, "merged_at_prompt_end": 0}
    examples: list[EncodedExample] = []
    seen: dict[str, int] = {}
    with tqdm(total=len(records), desc=f"encoding {Path(source).name}", unit="row", leave=False,
              disable=None) as bar:   # None: no bar when stderr is not a terminal (logs, CI)
        for start in range(0, len(records), _CHUNK):
            chunk = records[start:start + _CHUNK]
            rows = [Row(source, start + i + 1) for i in range(len(chunk))]
            for example in encode_chunk(chunk, rows, tokenizer, fmt, kind, template, stats):
                if example is not None:
                    examples.append(_unique_id(example, seen))
            bar.update(len(chunk))
    _log_summary(source, len(records), len(examples), fmt, stats)
    return examples


def _chat_template(tokenizer, fmt: DataFormat) -> str | None:
    """fmt's fallback template, or None when the tokenizer has its own (apply_chat_template then uses it)."""
    if getattr(tokenizer, "chat_template", None):
        return None
    if fmt.chat_template is None:
        raise ProbscopeError(f"tokenizer {getattr(tokenizer, 'name_or_path', '') or type(tokenizer).__name__} "
                             "has no chat template: pass chat_template (a Jinja template or a file holding one), "
                             "or use kind='text'")
    path = Path(fmt.chat_template)
    return path.read_text(encoding="utf-8") if len(fmt.chat_template) < 4096 and path.is_file() else fmt.chat_template


def _encode_chat_chunk(records, rows, tokenizer, fmt, kind, template, stats):
    rendered = [_render(record, row, tokenizer, fmt, kind, template) for record, row in zip(records, rows)]
    encodings = tokenizer([r.full for r in rendered], add_special_tokens=False, return_offsets_mapping=True)
    for r, ids, offsets in zip(rendered, encodings["input_ids"], encodings["offset_mapping"]):
        target_mask = [r.prompt_end <= start < r.target_end for start, _ in offsets]
        # A token merged across the prompt's end (e.g. "\n\n" when the reply starts with "\n") is prompt:
        # the reply's first characters are then context, not targets.
        stats["merged_at_prompt_end"] += any(start < r.prompt_end < end for start, end in offsets)
        roles = None if r.char_roles is None else [
            _role(r, start, end) if target else None for (start, end), target in zip(offsets, target_mask)]
        if r.target_end == r.reply_end:
            stats["no_end_of_turn"] += 1
        yield _fit(r.example_id, ids, target_mask, roles, fmt, stats)


class _Rendered(NamedTuple):
    example_id: str
    full: str                          # the rendered conversation
    prompt_end: int                    # char index where the rendered prompt ends (targets start)
    reply_start: int                   # char index of the reply in `full`
    reply_end: int
    target_end: int                    # char index where targets end (before trailing template whitespace)
    char_roles: list | None            # role of each character of the reply as rendered, or None


def _render(record: dict, row: Row, tokenizer, fmt: DataFormat, kind: str, template: str | None) -> _Rendered:
    turns = _FORMATS[kind](record, fmt, row)
    if not isinstance(turns.reply, str):
        raise row.error(f"the reply is a {type(turns.reply).__name__}, not text")
    if not turns.reply.strip():
        raise row.error("empty reply: every example needs a non-empty assistant reply")
    messages = prompt_messages(turns, fmt)
    prompt = _apply_template(tokenizer, template, messages, row, add_generation_prompt=True)
    full = _apply_template(tokenizer, template, messages + [{"role": "assistant", "content": turns.reply}], row)
    if not full.startswith(prompt):
        raise row.error("the chat template renders the prompt differently with and without the reply, so the "
                        "reply cannot be separated: pass a chat_template whose generation prompt is a prefix")
    # Templates may trim the reply ("content | trim"); find it as rendered.
    reply, lead = turns.reply, 0
    at = full.find(reply, len(prompt))
    if at < 0:
        reply = turns.reply.strip()
        lead = len(turns.reply) - len(turns.reply.lstrip())
        at = full.find(reply, len(prompt))
    if at < 0:
        raise row.error("the chat template changes the reply text, so its tokens cannot be located")
    reply_end = at + len(reply)
    target_end = reply_end + len(full[reply_end:].rstrip())
    char_roles = None if turns.spans is None else _char_roles(turns.spans, turns.reply, row)[lead:lead + len(reply)]
    return _Rendered(_example_id({"prompt": turns.prompt, "reply": turns.reply}), full, len(prompt), at,
                     reply_end, target_end, char_roles)


def _apply_template(tokenizer, template: str | None, messages: list[dict], row: Row, **kwargs) -> str:
    try:
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False, **kwargs)
    except Exception as e:  # jinja2 errors of any kind, raised by the template itself (raise_exception)
        raise row.error(f"the chat template failed on this row: {type(e).__name__}: {_first_line(e)}")


def _char_roles(spans, reply: str, row: Row) -> list[str | None]:
    roles: list[str | None] = [None] * len(reply)
    for span in spans:
        if len(span) != 3:
            raise row.error(f"span {span!r} is not [start_char, end_char, role]")
        start, end, role = span
        if role not in ROLES:
            raise row.error(f"span {span!r} has unknown role {role!r} (roles: {', '.join(ROLES)})")
        if not 0 <= start < end <= len(reply):
            raise row.error(f"span {span!r} is outside the reply ({len(reply)} characters)")
        roles[start:end] = [role] * (end - start)
    return roles


def _role(r: _Rendered, start: int, end: int) -> str | None:
    """Role of a target token spanning full[start:end]: that of its first non-space reply character."""
    if not r.reply_start <= start < r.reply_end:
        return "special"
    text = r.full[start:min(end, r.reply_end)]
    first = start + (len(text) - len(text.lstrip()) if text.strip() else 0)
    return r.char_roles[first - r.reply_start]


def _encode_text_chunk(records, rows, tokenizer, fmt, kind, template, stats):
    texts = []
    for record, row in zip(records, rows):
        text = row.get(record, fmt.text_column)
        if not isinstance(text, str) or not text.strip():
            raise row.error(f"empty text in field {fmt.text_column!r}")
        texts.append(text)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    for text, ids in zip(texts, tokenizer(texts, add_special_tokens=False)["input_ids"]):
        ids = bos + ids
        yield _fit(_example_id({"text": text}), ids, [i > 0 for i in range(len(ids))], None, fmt, stats)


def _fit(example_id, ids, target_mask, roles, fmt: DataFormat, stats) -> EncodedExample | None:
    """Apply max_length/overflow; None when the example is dropped (or has no target left)."""
    if fmt.max_length is not None and len(ids) > fmt.max_length:
        if fmt.overflow == "drop" or not any(target_mask[:fmt.max_length]):
            stats["dropped"] += 1
            return None
        stats["truncated"] += 1
        n = fmt.max_length
        ids, target_mask, roles = ids[:n], target_mask[:n], None if roles is None else roles[:n]
    if not any(target_mask):   # a one-token text without BOS: nothing to predict
        stats["no_targets"] += 1
        return None
    return EncodedExample(example_id, list(ids), target_mask, roles)


def _example_id(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]


def _unique_id(example: EncodedExample, seen: dict[str, int]) -> EncodedExample:
    seen[example.example_id] = seen.get(example.example_id, 0) + 1
    if seen[example.example_id] == 1:
        return example
    return EncodedExample(f"{example.example_id}#{seen[example.example_id]}", example.input_ids,
                          example.target_mask, example.roles)


def _log_summary(source: str, n_rows: int, n_kept: int, fmt: DataFormat, stats: dict) -> None:
    if stats["truncated"] or stats["dropped"]:
        logger.warning("%s: %d of %d examples longer than max_length %s: truncated %d, dropped %d",
                       source, stats["truncated"] + stats["dropped"], n_rows, fmt.max_length,
                       stats["truncated"], stats["dropped"])
    if stats["no_end_of_turn"]:
        logger.warning("%s: the chat template writes nothing after the reply in %d examples: no end-of-turn "
                       "target, so a model trained on them does not learn to stop", source, stats["no_end_of_turn"])
    if stats["merged_at_prompt_end"]:
        logger.warning("%s: in %d examples a token spans the end of the prompt and the reply's start; its reply "
                       "characters are not targets", source, stats["merged_at_prompt_end"])
    if stats["no_targets"]:
        logger.warning("%s: skipped %d examples with no target token", source, stats["no_targets"])
    logger.info("%s: encoded %d of %d rows", source, n_kept, n_rows)
