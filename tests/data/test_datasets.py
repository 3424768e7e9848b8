"""Dataset adapters: target masks, roles, ids, sources, formats and errors.

    .venv/bin/pytest tests/data/test_datasets.py -q
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from probscope.data import (
    DataFormat,
    detect_kind,
    encode_file,
    encode_records,
    final_answer,
    format_kinds,
    read_records,
)
from probscope.errors import ProbscopeError

SPECIALS = ["<pad>", "<unk>", "<s>", "<eos>", "<system>", "<user>", "<assistant>"]
# Closes the assistant turn with "<eos>\n": the newline after <eos> must not be a target.
TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}"
    "{% if m['role'] == 'assistant' %} <eos>\n{% else %} {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)
LLAMA_STYLE = "{{ bos_token }}" + TEMPLATE
CORPUS = [
    "What is 12 + 3 ? So 12 + 3 = 15 . The answer is 15 .",
    "Compute 7 - 2 . First 7 - 2 = 5 . Then we get 5 .",
    "You are a careful tutor . Alice lives in Paris .\nok",
]
REPLY = "So 12 + 3 = 15 . The answer is 15 ."
SPANS = [[0, 2, "connective"], [3, 5, "number"], [6, 7, "operator"], [8, 9, "number"], [10, 11, "operator"],
         [12, 14, "number"], [15, 16, "punctuation"], [31, 33, "answer"], [34, 35, "punctuation"]]
ROW = {"prompt": "What is 12 + 3 ?", "completion": REPLY, "spans": SPANS}


def make_tokenizer(template: str | None = TEMPLATE, adds_bos: bool = False):
    """A word-level tokenizer (digits split, newline its own token) trained on CORPUS.

    adds_bos: like Llama's, encoding with special tokens puts "<s>" first.
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\d|\w+|[^\w\s]|\n"), behavior="removed", invert=True)
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=SPECIALS))
    tok.add_special_tokens(SPECIALS)   # else "<eos>" is split into "<", "eos", ">"
    if adds_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", additional_special_tokens=SPECIALS[4:])
    fast.chat_template = template
    return fast


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


def ids_of(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def targets(example) -> list[int]:
    return [i for i, t in zip(example.input_ids, example.target_mask, strict=False) if t]


# ---- target mask ------------------------------------------------------------------------------------
def test_target_mask_is_exactly_reply_and_eos(tok):
    [ex] = encode_records([ROW], tok, DataFormat())
    assert ex.input_ids == ids_of(tok, f"<user> {ROW['prompt']} <assistant> {REPLY} <eos>\n")
    assert targets(ex) == ids_of(tok, REPLY) + [tok.eos_token_id]
    first = ex.target_mask.index(True)
    assert ex.input_ids[first - 1] == tok.convert_tokens_to_ids("<assistant>")
    # the template's newline after <eos> stays in the sequence but is not a target
    assert tok.convert_ids_to_tokens(ex.input_ids[-1]) == "\n" and not ex.target_mask[-1]
    assert ex.target_mask[-2] and ex.input_ids[-2] == tok.eos_token_id
    assert len(ex.input_ids) == len(ex.target_mask) == len(ex.roles)


def test_system_prompt_is_context_not_target(tok):
    [plain] = encode_records([ROW], tok, DataFormat())
    [with_system] = encode_records([ROW], tok, DataFormat(system_prompt="You are a careful tutor ."))
    assert with_system.input_ids[:1] == [tok.convert_tokens_to_ids("<system>")]
    assert targets(with_system) == targets(plain)
    assert with_system.example_id == plain.example_id   # the id names the data, not the rendering


def test_llama_style_template_has_one_bos(tok):
    llama = make_tokenizer(LLAMA_STYLE, adds_bos=True)
    assert llama("12")["input_ids"][0] == llama.bos_token_id == 2    # the tokenizer would add one too
    [ex] = encode_records([ROW], llama, DataFormat())
    assert ex.input_ids[0] == llama.bos_token_id
    assert ex.input_ids.count(llama.bos_token_id) == 1
    assert targets(ex) == ids_of(llama, REPLY) + [llama.eos_token_id]


def test_fallback_template_and_missing_template():
    bare = make_tokenizer(template=None)
    [ex] = encode_records([ROW], bare, DataFormat(chat_template=TEMPLATE))
    assert targets(ex) == ids_of(bare, REPLY) + [bare.eos_token_id]
    with pytest.raises(ProbscopeError, match="no chat template: pass chat_template"):
        encode_records([ROW], bare, DataFormat())


def test_template_that_adds_nothing_after_the_reply_warns(tok, caplog):
    no_eos = make_tokenizer(TEMPLATE.replace(" <eos>\n", ""))
    with caplog.at_level(logging.WARNING, logger="probscope.data"):
        [ex] = encode_records([ROW], no_eos, DataFormat(), source="x.jsonl")
    assert targets(ex) == ids_of(no_eos, REPLY)
    assert "no end-of-turn" in caplog.text


# ---- roles ---------------------------------------------------------------------------------------------
def test_roles_follow_spans(tok):
    [ex] = encode_records([ROW], tok, DataFormat())
    target_roles = [r for r, t in zip(ex.roles, ex.target_mask, strict=False) if t]
    expected = (["connective", "number", "number", "operator", "number", "operator", "number", "number",
                 "punctuation"]
                + [None, None, None]                     # "The answer is": in no span
                + ["answer", "answer", "punctuation", "special"])   # "15 ." then <eos>
    assert target_roles == expected
    assert all(r is None for r, t in zip(ex.roles, ex.target_mask, strict=False) if not t)


def test_token_takes_role_of_first_non_space_character():
    """Byte-level BPE tokens carry their leading space (' 15'): the role is that of '1', not the space's."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", "<user>", "<assistant>", "So", " 15", "?", "Q"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r" ?\w+|\?"), behavior="isolated")
    tok.add_special_tokens(["<eos>", "<user>", "<assistant>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>")
    fast.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}"
                          "{% if m['role'] == 'assistant' %}<eos>{% endif %}{% endfor %}"
                          "{% if add_generation_prompt %}<assistant>{% endif %}")
    row = {"prompt": "Q?", "completion": "So 15", "spans": [[0, 2, "connective"], [3, 5, "number"]]}
    [ex] = encode_records([row], fast, DataFormat())
    assert fast.convert_ids_to_tokens(targets(ex)) == ["So", " 15", "<eos>"]
    assert [r for r, t in zip(ex.roles, ex.target_mask, strict=False) if t] == ["connective", "number", "special"]


def test_rows_without_spans_have_no_roles(tok):
    [ex] = encode_records([{"prompt": ROW["prompt"], "completion": REPLY}], tok, DataFormat())
    assert ex.roles is None


@pytest.mark.parametrize("span, message", [
    ([0, 2, "verb"], "unknown role 'verb'"),
    ([0, 99, "number"], "outside the reply"),
])
def test_bad_spans_are_named(tok, span, message):
    with pytest.raises(ProbscopeError, match=f"d.jsonl: row 1: span .*{message}"):
        encode_records([{**ROW, "spans": [span]}], tok, DataFormat(), source="d.jsonl")


# ---- example ids --------------------------------------------------------------------------------------
def test_example_id_is_a_stable_content_hash(tok):
    canonical = json.dumps({"prompt": ROW["prompt"], "reply": REPLY}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    expected = hashlib.sha1(canonical.encode()).hexdigest()[:16]
    assert expected == "607a121cb86da8e0"   # from `sha1sum`: fixed across versions and processes
    other = {"prompt": "Compute 7 - 2 .", "completion": "First 7 - 2 = 5 ."}
    a = encode_records([ROW, other], tok, DataFormat())
    b = encode_records([other, ROW], make_tokenizer(LLAMA_STYLE), DataFormat(max_length=64))
    assert a[0].example_id == b[1].example_id == expected
    assert a[1].example_id == b[0].example_id != expected


def test_repeated_rows_get_distinct_ids(tok):
    ids = [e.example_id for e in encode_records([ROW, ROW, ROW], tok, DataFormat())]
    assert ids[1:] == [f"{ids[0]}#2", f"{ids[0]}#3"]


# ---- over-long examples ------------------------------------------------------------------------------
def test_truncate_keeps_the_targets_that_fit(tok, caplog):
    [full] = encode_records([ROW], tok, DataFormat())
    n_prompt = full.target_mask.index(True)
    fmt = DataFormat(max_length=n_prompt + 3)
    with caplog.at_level(logging.WARNING, logger="probscope.data"):
        [ex] = encode_records([ROW, {**ROW, "prompt": "What"}], tok, fmt, source="d.jsonl")[:1]
    assert ex.input_ids == full.input_ids[:n_prompt + 3]
    assert sum(ex.target_mask) == 3 and ex.roles == full.roles[:n_prompt + 3]
    assert "d.jsonl: 2 of 2 examples longer than max_length" in caplog.text and "truncated 2" in caplog.text


def test_drop_and_prompt_longer_than_max_length(tok, caplog):
    [full] = encode_records([ROW], tok, DataFormat())
    short = {"prompt": "What", "completion": "15 ."}
    with caplog.at_level(logging.WARNING, logger="probscope.data"):
        kept = encode_records([ROW, short], tok, DataFormat(max_length=8, overflow="drop"))
        assert [len(e.input_ids) for e in kept] == [len(ids_of(tok, "<user> What <assistant> 15 . <eos>\n"))]
        prompt_only = DataFormat(max_length=full.target_mask.index(True))   # no target fits
        assert encode_records([ROW], tok, prompt_only) == []
    assert "dropped 1" in caplog.text


# ---- text format --------------------------------------------------------------------------------------
def test_text_targets_every_token_but_the_first(tok):
    [ex] = encode_records([{"text": CORPUS[0]}], tok, DataFormat())
    assert ex.input_ids == [tok.bos_token_id] + ids_of(tok, CORPUS[0])
    assert ex.target_mask == [False] + [True] * (len(ex.input_ids) - 1)
    assert ex.roles is None


# ---- sources ------------------------------------------------------------------------------------------
def test_every_source_gives_the_same_records(tmp_path):
    import datasets
    import polars as pl

    rows = [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": rows}))
    pl.DataFrame(rows).write_parquet(tmp_path / "d.parquet")
    pl.DataFrame(rows).write_csv(tmp_path / "d.csv")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "saved_dict"))
    for name in ("d.jsonl", "d.json", "wrapped.json", "d.parquet", "d.csv", "saved", "saved_dict"):
        assert read_records(tmp_path / name) == rows, name


def test_csv_nested_fields_are_json(tmp_path, tok):
    import polars as pl

    pl.DataFrame([{**ROW, "spans": json.dumps(SPANS)}]).write_csv(tmp_path / "d.csv")
    [from_csv] = encode_file(tmp_path / "d.csv", tok, DataFormat())
    assert from_csv == encode_records([ROW], tok, DataFormat())[0]


def test_csv_blank_spans_mean_no_roles(tmp_path, tok):
    import polars as pl

    pl.DataFrame([{**ROW, "spans": json.dumps(SPANS)}, {**ROW, "spans": ""}]).write_csv(tmp_path / "d.csv")
    with_roles, without = encode_file(tmp_path / "d.csv", tok, DataFormat())
    assert with_roles.roles is not None and without.roles is None


def test_source_errors(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a", "completion": "b"}\n{"prompt": oops}\n')
    with pytest.raises(ProbscopeError, match=r"bad.jsonl: line 2: not valid JSON"):
        read_records(tmp_path / "bad.jsonl")
    (tmp_path / "obj.json").write_text('{"rows": []}')
    with pytest.raises(ProbscopeError, match=r"obj.json: expected a JSON list"):
        read_records(tmp_path / "obj.json")
    with pytest.raises(ProbscopeError, match="no such file"):
        read_records(tmp_path / "missing.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ProbscopeError, match="unsupported file type '.txt'"):
        read_records(tmp_path / "d.txt")


def test_encode_file_limit(tmp_path, tok):
    rows = [ROW, {"prompt": "Compute 7 - 2 .", "completion": "First 7 - 2 = 5 ."}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert encode_file(tmp_path / "d.jsonl", tok, DataFormat(), limit=1) == encode_records(rows[:1], tok, DataFormat())


# ---- bad input ------------------------------------------------------------------------------------------
def test_missing_field_names_file_row_and_field(tmp_path, tok):
    (tmp_path / "d.jsonl").write_text(json.dumps(ROW) + "\n" + json.dumps({"prompt": "a", "reply": "b"}) + "\n")
    with pytest.raises(ProbscopeError) as e:
        encode_file(tmp_path / "d.jsonl", tok, DataFormat(kind="prompt-completion"))
    assert str(e.value) == f"{tmp_path / 'd.jsonl'}: row 2: missing field 'completion' (columns: prompt, reply)"


def test_empty_reply_names_file_and_row(tok):
    with pytest.raises(ProbscopeError, match=r"^d.jsonl: row 2: empty reply"):
        encode_records([ROW, {"prompt": "a", "completion": "  "}], tok, DataFormat(), source="d.jsonl")


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(ProbscopeError) as e:
        DataFormat(kind="alpaca")
    assert "alpaca" in str(e.value) and all(k in str(e.value) for k in format_kinds())
    assert {"auto", "prompt-completion", "messages", "text", "numina", "gsm8k", "math"} <= set(format_kinds())


def test_unknown_columns_cannot_be_detected(tok):
    with pytest.raises(ProbscopeError, match=r"d.jsonl: cannot tell the data format from the columns"):
        encode_records([{"foo": 1}], tok, DataFormat(), source="d.jsonl")


# ---- formats --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("columns, kind", [
    ({"messages": [], "problem": "", "solution": ""}, "messages"),
    ({"prompt": "", "completion": ""}, "prompt-completion"),
    ({"problem": "", "solution": ""}, "numina"),
    ({"problem": "", "solution": "", "answer": ""}, "math"),
    ({"question": "", "answer": "x\n#### 3"}, "gsm8k"),
    ({"text": ""}, "text"),
])
def test_detect_kind(columns, kind):
    assert detect_kind(columns) == kind


def test_configurable_columns_and_answer(tok):
    row = {"instruction": ROW["prompt"], "output": REPLY, "answer": 15}
    fmt = DataFormat(kind="prompt-completion", prompt_column="instruction", completion_column="output")
    [ex] = encode_records([row], tok, fmt)
    assert targets(ex) == targets(encode_records([ROW], tok, DataFormat())[0])
    assert final_answer(row, fmt) == "15"


def test_messages_target_only_the_last_assistant_turn(tok):
    chat = {"messages": [
        {"role": "system", "content": "You are a careful tutor ."},
        {"role": "user", "content": "Compute 7 - 2 ."},
        {"role": "assistant", "content": "First 7 - 2 = 5 ."},
        {"role": "user", "content": ROW["prompt"]},
        {"role": "assistant", "content": REPLY},
    ]}
    [ex] = encode_records([chat], tok, DataFormat(system_prompt="ignored"))
    assert targets(ex) == ids_of(tok, REPLY) + [tok.eos_token_id]
    assert ex.input_ids[:2] == ids_of(tok, "<system> You")
    with pytest.raises(ProbscopeError, match="row 1: field 'messages' must hold a prompt and end with an assistant"):
        encode_records([{"messages": chat["messages"][:-1]}], tok, DataFormat())
    with pytest.raises(ProbscopeError, match=r"row 1: field 'messages' must be a list of \{"):
        encode_records([{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}], tok, DataFormat())


def test_trl_conversational_prompt_completion(tok):
    row = {"prompt": [{"role": "user", "content": ROW["prompt"]}],
           "completion": [{"role": "assistant", "content": REPLY}], "spans": SPANS}
    [conversational] = encode_records([row], tok, DataFormat())
    [plain] = encode_records([ROW], tok, DataFormat())
    assert (conversational.input_ids, conversational.target_mask, conversational.roles) == \
        (plain.input_ids, plain.target_mask, plain.roles)


def test_template_errors_and_non_text_replies_name_the_row(tok):
    strict = make_tokenizer("{{ raise_exception('only one turn') }}")
    with pytest.raises(ProbscopeError, match=r"^d.jsonl: row 1: the chat template failed on this row: .*only one"):
        encode_records([ROW], strict, DataFormat(), source="d.jsonl")
    with pytest.raises(ProbscopeError,
                       match=r"^d.jsonl: row 1: field 'completion' must be text or a list of messages, found int"):
        encode_records([{"prompt": "a", "completion": 15}], tok, DataFormat(), source="d.jsonl")


def test_gsm8k_reply_and_answer(tok):
    row = {"question": "What is 12 + 3 ?", "answer": "So 12 + 3 = <<12+3=15>>15 .\n#### 15"}
    fmt = DataFormat(kind="gsm8k")
    from probscope.data import read_turns

    turns = read_turns(row, fmt)
    assert turns.reply == "So 12 + 3 = 15 .\nThe final answer is $\\boxed{15}$."
    assert final_answer(row, fmt) == "15"
    with pytest.raises(ProbscopeError, match="no final '#### N' line"):
        read_turns({"question": "q", "answer": "15"}, fmt, source="g.jsonl")


def test_math_and_numina_answers():
    math_row = {"problem": "p", "solution": "so $\\boxed{\\frac{1}{2}}$", "answer": "\\frac12"}
    assert final_answer(math_row, DataFormat()) == "\\frac12"
    assert final_answer(math_row, DataFormat(kind="numina")) == "\\frac{1}{2}"
    assert final_answer({"problem": "p", "solution": "no box"}, DataFormat()) is None
    assert final_answer({"text": "t"}, DataFormat()) is None


def test_hf_argument_parser_reads_dataformat():
    from transformers import HfArgumentParser

    [fmt] = HfArgumentParser(DataFormat).parse_args_into_dataclasses(
        ["--kind", "gsm8k", "--max_length", "512", "--overflow", "drop", "--system_prompt", "Be brief."])
    assert fmt == DataFormat(kind="gsm8k", max_length=512, overflow="drop", system_prompt="Be brief.")
    with pytest.raises(SystemExit):
        HfArgumentParser(DataFormat).parse_args_into_dataclasses(["--overflow", "wrap"])


# ---- real data with the real Qwen2.5-Math tokenizer -----------------------------------------------------
@pytest.fixture(scope="module")
def qwen():
    from conftest import REAL

    path = REAL / "tokenizers" / "qwen2.5-math-1.5b"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


@pytest.mark.parametrize("name, kind, n", [
    ("gsm8k_train_first500.jsonl", "gsm8k", 500),
    ("numinamath_cot_first3.jsonl", "numina", 3),
    ("numinamath_cot_first3.jsonl", "messages", 3),
    ("math500_test.jsonl", "math", 500),
])
def test_real_data_targets_are_reply_and_end_of_turn(real_dir, qwen, name, kind, n):
    from probscope.data import read_turns

    path = real_dir / "data" / name
    records = read_records(path)
    examples = encode_file(path, qwen, DataFormat(kind=kind))
    assert len(examples) == len(records) == n
    im_end = qwen.convert_tokens_to_ids("<|im_end|>")
    system = qwen.encode("<|im_start|>system\nPlease reason step by step", add_special_tokens=False)
    for record, ex in zip(records, examples, strict=False):
        reply = read_turns(record, DataFormat(kind=kind)).reply
        assert qwen.decode(targets(ex)) == reply + "<|im_end|>"
        assert ex.input_ids[:len(system)] == system                  # the template's default system prompt
        assert ex.input_ids[-2:] == [im_end, qwen.encode("\n")[0]] and ex.target_mask[-2:] == [True, False]
        first = ex.target_mask.index(True)
        assert qwen.decode(ex.input_ids[first - 3:first]) == "<|im_start|>assistant\n"
        assert sum(ex.target_mask) == len(ex.target_mask) - first - 1   # one block: reply + <|im_end|>


def test_real_render_prompt_is_the_untargeted_prefix(real_dir, qwen):
    from probscope.data import render_prompt

    path = real_dir / "data" / "math500_test.jsonl"
    fmt = DataFormat(kind="math")
    records = read_records(path)[:20]
    for record, ex in zip(records, encode_records(records, qwen, fmt), strict=False):
        prompt = render_prompt(record, qwen, fmt)
        assert prompt.endswith("<|im_start|>assistant\n")
        assert qwen(prompt, add_special_tokens=False)["input_ids"] == ex.input_ids[:ex.target_mask.index(True)]


def test_real_numina_formats_agree_and_ids_are_stable(real_dir, qwen):
    path = real_dir / "data" / "numinamath_cot_first3.jsonl"
    by_numina = encode_file(path, qwen, DataFormat(kind="numina"))
    by_messages = encode_file(path, qwen, DataFormat(kind="auto"))   # auto picks messages
    assert [e.input_ids for e in by_numina] == [e.input_ids for e in by_messages]
    assert len({e.example_id for e in by_numina}) == 3
    assert [e.example_id for e in encode_file(path, qwen, DataFormat(kind="numina", system_prompt="Hi."))] == \
        [e.example_id for e in by_numina]


def test_real_gsm8k_truncation(real_dir, qwen, caplog):
    path = real_dir / "data" / "gsm8k_train_first500.jsonl"
    full = encode_file(path, qwen, DataFormat(kind="gsm8k"), limit=50)
    limit = sorted(len(e.input_ids) for e in full)[25]
    with caplog.at_level(logging.WARNING, logger="probscope.data"):
        cut = encode_file(path, qwen, DataFormat(kind="gsm8k", max_length=limit), limit=50)
    n_long = sum(len(e.input_ids) > limit for e in full)
    assert n_long > 0 and f"{n_long} of 50 examples longer than max_length {limit}" in caplog.text
    assert all(len(e.input_ids) <= limit for e in cut) and len(cut) == 50
    for a, b in zip(full, cut, strict=False):
        assert a.input_ids[:len(b.input_ids)] == b.input_ids and a.example_id == b.example_id


def test_real_llama_tokenizer_with_fallback_template(real_dir):
    """stories260K: a real SentencePiece Llama tokenizer that adds BOS itself and has no chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(real_dir / "models" / "stories260K"))
    assert tok("Once")["input_ids"][0] == tok.bos_token_id and not tok.chat_template
    template = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
                "{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")
    reply = "Once upon a time, Lily saw a cat."
    [ex] = encode_records([{"prompt": "Tell me a story.", "completion": reply}], tok,
                          DataFormat(chat_template=template))
    assert ex.input_ids[0] == tok.bos_token_id and ex.input_ids.count(tok.bos_token_id) == 1
    assert tok.decode(targets(ex)) == reply + "</s>" and ex.input_ids[-1] == tok.eos_token_id


def test_real_token_merged_across_prompt_end_is_reported(real_dir, qwen, caplog):
    """Qwen merges "\\n\\n": a reply starting with "\\n" shares a token with the generation prompt."""
    with caplog.at_level(logging.WARNING, logger="probscope.data"):
        [ex] = encode_records([{"prompt": "Hi", "completion": "\nHello"}], qwen, DataFormat())
    assert qwen.decode(targets(ex)) == "Hello<|im_end|>"
    assert "in 1 examples a token spans the end of the prompt" in caplog.text
