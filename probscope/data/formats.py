"""Row formats: one registered function per format reads a record into Turns(prompt, reply, spans, answer).

    from probscope.data import DataFormat, read_turns
    read_turns({"question": "1+1?", "answer": "2 #### 2"}, DataFormat(kind="gsm8k"))

A new format is one function (record, fmt, row) -> Turns under @register_format("name"), plus its test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from probscope.errors import ProbscopeError
from probscope.registry import Registry


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
    reply_end: Literal["template", "eos"] = field(default="template", metadata={
        "help": "what ends a reply: template (the chat template's end-of-turn, as generation stops) or eos (the "
                "tokenizer's EOS appended to the raw reply after the templated prompt: the DFT authors' recipe)"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "system message put before the prompt (rows that bring their own keep theirs)"})
    tokenization: str | None = field(default=None, metadata={
        "choices": ["probscope", "trl"],
        "help": "probscope (the rendering above) or trl (exactly as TRL's SFTTrainer tokenizes: the prompt with the "
                "tokenizer's special tokens, EOS after a text completion). Default: trl for checkpoints TRL's "
                "SFTTrainer wrote (its model card says so) and runs add-run registered as such, else probscope"})

    def __post_init__(self) -> None:
        if self.kind not in format_kinds():
            raise ProbscopeError(f"unknown data format kind {self.kind!r}: use one of {', '.join(format_kinds())}")
        if self.reply_end not in ("template", "eos"):
            raise ProbscopeError(f"unknown reply_end {self.reply_end!r}: use template or eos")
        if self.tokenization not in (None, "probscope", "trl"):
            raise ProbscopeError(f"unknown tokenization {self.tokenization!r}: use probscope or trl")
        if self.overflow not in ("truncate", "drop"):
            raise ProbscopeError(f"unknown overflow {self.overflow!r}: use truncate or drop")
        if self.max_length is not None and self.max_length < 2:
            raise ProbscopeError(f"max_length must be at least 2 tokens, got {self.max_length}")


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

    def text(self, record: dict, column: str) -> str:
        """A field that must hold text."""
        value = self.get(record, column)
        if not isinstance(value, str):
            raise self.error(f"field {column!r} must be text, found {type(value).__name__}")
        return value

    def text_or_messages(self, record: dict, column: str) -> str | list:
        """A field holding text or chat turns (TRL's conversational prompt-completion form)."""
        value = self.get(record, column)
        if not isinstance(value, (str, list)):
            raise self.error(f"field {column!r} must be text or a list of messages, found {type(value).__name__}")
        return value

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
            raise self.error(f"field {column!r} is text but not valid JSON ({e.msg})") from None

    def messages(self, value: Any, column: str) -> list[dict]:
        """Chat turns as plain {role, content} dicts."""
        if not isinstance(value, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in value):
            raise self.error(f"field {column!r} must be a list of {{\"role\": ..., \"content\": ...}} messages")
        return [{"role": m["role"], "content": m["content"]} for m in value]


FormatFn = Callable[[dict, DataFormat, Row], Turns]
FORMATS: Registry[FormatFn] = Registry("data format")


def register_format(name: str) -> Callable[[FormatFn], FormatFn]:
    """A new format is one function (record, fmt, row) -> Turns under this decorator (plus its test)."""
    return FORMATS.register(name)


def format_kinds() -> tuple[str, ...]:
    """Every valid DataFormat.kind."""
    return ("auto", "text", *FORMATS)


@register_format("prompt-completion")
def _prompt_completion(record: dict, fmt: DataFormat, row: Row) -> Turns:
    """Text columns, or TRL's conversational form (prompt: chat turns, completion: [assistant turn])."""
    prompt = row.text_or_messages(record, fmt.prompt_column)
    completion = row.text_or_messages(record, fmt.completion_column)
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
    solution = row.text(record, "solution")
    return Turns(row.text(record, "problem"), solution, answer=last_boxed(solution))


@register_format("math")
def _math(record: dict, fmt: DataFormat, row: Row) -> Turns:
    return Turns(row.text(record, "problem"), row.text(record, "solution"), answer=str(row.get(record, "answer")))


# GSM8K writes calculator annotations "<<48/2=24>>" (tool calls for its calculator, not language) and ends
# with "#### 72". The reply drops the annotations and ends with a sentence in the \boxed{} form the math
# benchmarks (and Qwen2.5-Math's system prompt) use, so one answer grader serves every dataset.
_GSM8K_CALC = re.compile(r"<<[^<>]*>>")
GSM8K_ANSWER_LINE = "The final answer is $\\boxed{{{answer}}}$."


@register_format("gsm8k")
def _gsm8k(record: dict, fmt: DataFormat, row: Row) -> Turns:
    raw = row.text(record, "answer")
    reasoning, sep, answer = raw.rpartition("####")
    if not sep:
        raise row.error("field 'answer' has no final '#### N' line (not GSM8K?)")
    answer = answer.strip()
    reply = _GSM8K_CALC.sub("", reasoning).rstrip() + "\n" + GSM8K_ANSWER_LINE.format(answer=answer)
    return Turns(row.text(record, "question"), reply.lstrip("\n"), answer=answer)


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
        raise ProbscopeError(f"{source}: {e}") from None


def read_turns(record: dict, fmt: DataFormat, *, source: str = "<record>", row: int = 1) -> Turns:
    """What the format reads from one record (kind 'auto' is detected from this record)."""
    kind = detect_kind(record) if fmt.kind == "auto" else fmt.kind
    if kind == "text":
        raise ProbscopeError(f"{source}: the text format has no prompt/reply turns")
    return FORMATS.get(kind)(record, fmt, Row(source, row))


def final_answer(record: dict, fmt: DataFormat) -> str | None:
    """The record's reference final answer when its format has one (gsm8k, math, numina's last \\boxed{})."""
    kind = detect_kind(record) if fmt.kind == "auto" else fmt.kind
    return None if kind == "text" else read_turns(record, fmt).answer

