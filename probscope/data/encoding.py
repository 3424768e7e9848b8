"""Encoding: records -> token ids + target (loss) mask + per-token roles, through the chat template.

    from probscope.data import DataFormat, encode_file
    examples = encode_file("gsm8k.jsonl", tokenizer, DataFormat(max_length=2048))   # list[EncodedExample]

(The package docstring, probscope/data/__init__.py, says exactly which tokens are targets.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from probscope.data.formats import (
    FORMATS,
    DataFormat,
    Row,
    Turns,
    _resolve_kind,
    read_turns,
)
from probscope.data.sources import read_records
from probscope.data.trl_parity import trl_rows, trl_tokenize
from probscope.errors import ProbscopeError, first_line
from probscope.schema import ROLES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedExample:
    example_id: str                    # stable hash of the source record (same across runs/tokenizers)
    input_ids: list[int]               # full sequence: rendered prompt + reply (+ EOS)
    target_mask: list[bool]            # True where input_ids[i] is a training target (reply + EOS)
    roles: list[str | None] | None     # per-position role (probscope.schema.ROLES) or None if unknown



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
_STATS = ("truncated", "dropped", "no_targets", "no_end_of_turn", "merged_at_prompt_end")   # counts for the log


def encode_file(path: str | os.PathLike, tokenizer, fmt: DataFormat, limit: int | None = None) -> list[EncodedExample]:
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
    if fmt.tokenization == "trl":
        return _encode_like_trl(records, tokenizer, fmt, kind, source)
    encode_chunk = _encode_text_chunk if kind == "text" else _encode_chat_chunk
    template = None if kind == "text" else _chat_template(tokenizer, fmt)
    stats = dict.fromkeys(_STATS, 0)
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


def _encode_like_trl(records: list[dict], tokenizer, fmt: DataFormat, kind: str, source: str
                     ) -> list[EncodedExample]:
    """TRL's SFTTrainer's own tokenization (probscope.data.trl_parity), then max_length as everywhere."""
    rows, contents = trl_rows(records, fmt, kind, source)
    template = None if kind == "text" or fmt.chat_template is None else _chat_template(tokenizer, fmt)
    stats = dict.fromkeys(_STATS, 0)
    examples: list[EncodedExample] = []
    seen: dict[str, int] = {}
    for content, (ids, labels) in zip(contents, trl_tokenize(rows, tokenizer, template, source), strict=False):
        target_mask = [i > 0 and label != -100 for i, label in enumerate(labels)]
        example = _fit(_example_id(content), ids, target_mask, None, fmt, stats)
        if example is not None:
            examples.append(_unique_id(example, seen))
    _log_summary(source, len(records), len(examples), fmt, stats)
    return examples


def _chat_template(tokenizer, fmt: DataFormat) -> str | None:
    """The template to render with: fmt's when given (warning when it differs from the tokenizer's own, which a
    probscope checkpoint saves from training), else None so that apply_chat_template uses the tokenizer's."""
    own = getattr(tokenizer, "chat_template", None)
    if fmt.chat_template is None:
        if own:
            return None
        raise ProbscopeError(f"tokenizer {getattr(tokenizer, 'name_or_path', '') or type(tokenizer).__name__} "
                             "has no chat template: pass chat_template (a Jinja template or a file holding one), "
                             "or use kind='text'")
    template = fmt.chat_template
    if "{" not in template:   # a Jinja template has tags; without any it names a file holding one
        path = Path(template)
        if not path.is_file():
            raise ProbscopeError(f"chat_template: {template}: no such file, and not a Jinja template either")
        template = path.read_text(encoding="utf-8")
    if own and own != template:
        logger.warning("chat_template: the template passed differs from the tokenizer's own (saved with the "
                       "checkpoint); rendering with the one passed")
    return template


def attach_chat_template(tokenizer, fmt: DataFormat) -> None:
    """Give the tokenizer fmt's chat template, so that save_pretrained stores the template a run trains with."""
    if fmt.chat_template is not None:
        tokenizer.chat_template = _chat_template(tokenizer, fmt)


def _encode_chat_chunk(records, rows, tokenizer, fmt, kind, template, stats):
    rendered = [_render(record, row, tokenizer, fmt, kind, template)
                for record, row in zip(records, rows, strict=False)]
    encodings = tokenizer([r.full for r in rendered], add_special_tokens=False, return_offsets_mapping=True)
    for r, ids, offsets in zip(rendered, encodings["input_ids"], encodings["offset_mapping"], strict=False):
        target_mask = [r.prompt_end <= start < r.target_end for start, _ in offsets]
        # A token merged across the prompt's end (e.g. "\n\n" when the reply starts with "\n") is prompt:
        # the reply's first characters are then context, not targets.
        stats["merged_at_prompt_end"] += any(start < r.prompt_end < end for start, end in offsets)
        roles = None if r.char_roles is None else [
            _role(r, start, end) if target else None
            for (start, end), target in zip(offsets, target_mask, strict=False)]
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
    turns = FORMATS.get(kind)(record, fmt, row)
    if not isinstance(turns.reply, str):
        raise row.error(f"the reply is a {type(turns.reply).__name__}, not text")
    if not turns.reply.strip():
        raise row.error("empty reply: every example needs a non-empty assistant reply")
    messages = prompt_messages(turns, fmt)
    prompt = _apply_template(tokenizer, template, messages, row, add_generation_prompt=True)
    char_roles = None if turns.spans is None else _char_roles(turns.spans, turns.reply, row)
    example_id = _example_id({"prompt": turns.prompt, "reply": turns.reply})
    if fmt.reply_end == "eos":   # the raw reply and EOS after the templated prompt, no end-of-turn token
        if not tokenizer.eos_token:
            raise row.error("reply_end eos: the tokenizer has no EOS token")
        full = prompt + turns.reply + tokenizer.eos_token
        return _Rendered(example_id, full, len(prompt), len(prompt), len(prompt) + len(turns.reply), len(full),
                         char_roles)
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
    char_roles = None if char_roles is None else char_roles[lead:lead + len(reply)]
    return _Rendered(example_id, full, len(prompt), at, reply_end, target_end, char_roles)


def _apply_template(tokenizer, template: str | None, messages: list[dict], row: Row, **kwargs) -> str:
    try:
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False, **kwargs)
    except Exception as e:  # jinja2 errors of any kind, raised by the template itself (raise_exception)
        raise row.error(f"the chat template failed on this row: {type(e).__name__}: {first_line(e)}") from None


def _char_roles(spans, reply: str, row: Row) -> list[str | None]:
    roles: list[str | None] = [None] * len(reply)
    if not isinstance(spans, (list, tuple)):
        raise row.error(f"field 'spans': expected a list of [start_char, end_char, role], found {spans!r}")
    for span in spans:
        if not isinstance(span, (list, tuple)) or len(span) != 3:
            raise row.error(f"span {span!r} is not [start_char, end_char, role]")
        start, end, role = span
        if role not in ROLES:
            raise row.error(f"span {span!r} has unknown role {role!r} (roles: {', '.join(ROLES)})")
        if not all(isinstance(edge, int) and not isinstance(edge, bool) for edge in (start, end)):
            raise row.error(f"span {span!r}: start and end must be integer character offsets")
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
    assert r.char_roles is not None, "called for a format that has roles only"
    return r.char_roles[first - r.reply_start]


def _encode_text_chunk(records, rows, tokenizer, fmt, kind, template, stats):
    texts = []
    for record, row in zip(records, rows, strict=False):
        text = row.get(record, fmt.text_column)
        if not isinstance(text, str) or not text.strip():
            raise row.error(f"empty text in field {fmt.text_column!r}")
        texts.append(text)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    for text, ids in zip(texts, tokenizer(texts, add_special_tokens=False)["input_ids"], strict=False):
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

