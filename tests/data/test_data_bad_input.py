"""Bad dataset files and rows: every one is a one-line ProbscopeError naming the file and line/row, never a
traceback; random records (hypothesis) either encode or fail that way.

    .venv/bin/pytest tests/data/test_data_bad_input.py -q
"""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from probscope.data import DataFormat, encode_records, read_records
from probscope.errors import ProbscopeError

pytestmark = pytest.mark.bad_input


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from probscope.builtin.tokenizer import build_tokenizer

    texts = ["Compute 7 + 5 ?", "Let's work it out . First , 7 + 5 = 12 . So the answer is 12 ."]
    return build_tokenizer(texts, tmp_path_factory.mktemp("tok"))


@pytest.mark.parametrize(("name", "content", "message"), [
    ("latin1.jsonl", b'{"text": "ok"}\n{"text": "caf\xe9"}\n', r"latin1.jsonl: line 2: bytes that are not UTF-8"),
    ("latin1.csv", b"text\nok\ncaf\xe9\n", r"latin1.csv: line 3: bytes that are not UTF-8"),
    ("latin1.json", b'[{"text": "caf\xe9"}]', r"latin1.json: line 1: bytes that are not UTF-8"),
    ("bad.jsonl", b'{"text": "ok"}\n{"text": \n', r"bad.jsonl: line 2: not valid JSON"),
    ("list.jsonl", b'{"text": "ok"}\n[1, 2]\n', r"list.jsonl: line 2: expected a JSON object, got list"),
    ("bad.json", b'[{"text": "ok"},\n{"text" "x"}]', r"bad.json: not valid JSON \(line 2"),
    ("scalar.json", b'42', r"scalar.json: expected a JSON list of objects"),
    ("ragged.csv", b"prompt,completion\na,b\nc,d,e\n", r"ragged.csv: line 3: more fields than the header's 2"),
    ("fake.parquet", b"this is not parquet", r"fake.parquet: not a readable Parquet file"),
    ("data.txt", b"hello", r"data.txt: unsupported file type '.txt'"),
])
def test_unreadable_files_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ProbscopeError, match=message) as e:
        read_records(path)
    assert "\n" not in str(e.value)


def test_missing_file_and_non_dataset_directory(tmp_path):
    with pytest.raises(ProbscopeError, match="no such file or directory"):
        read_records(tmp_path / "missing.jsonl")
    with pytest.raises(ProbscopeError, match="not one written by datasets' save_to_disk"):
        read_records(tmp_path)


@pytest.mark.parametrize(("record", "fmt", "message"), [
    ({"prompt": "a"}, DataFormat(kind="prompt-completion"), r"d.jsonl: row 1: missing field 'completion'"),
    ({"messages": "not json"}, DataFormat(kind="messages"),
     r"d.jsonl: row 1: field 'messages' is text but not valid JSON"),
    ({"messages": [{"role": "user", "content": "hi"}]}, DataFormat(kind="messages"),
     r"row 1: field 'messages' must hold a prompt and end with an assistant turn"),
    ({"question": "q", "answer": "no final line"}, DataFormat(kind="gsm8k"), r"row 1: field 'answer' has no final"),
    ({"text": "   "}, DataFormat(kind="text"), r"row 1: empty text in field 'text'"),
    ({"foo": 1}, DataFormat(), r"cannot tell the data format from the columns \(foo\)"),
])
def test_bad_rows_name_the_row_and_field(tokenizer, record, fmt, message):
    with pytest.raises(ProbscopeError, match=message):
        encode_records([record], tokenizer, fmt, source="d.jsonl")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
records = st.dictionaries(
    st.sampled_from(["prompt", "completion", "messages", "text", "question", "answer", "problem", "solution",
                     "spans", "x"]),
    json_values | st.text(max_size=40), max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=records, kind=st.sampled_from(["auto", "prompt-completion", "messages", "text", "gsm8k", "math",
                                             "numina"]))
# found by the fuzz: spans that are not a list of triples raised a bare TypeError
@example(record={"prompt": "", "spans": [None], "completion": "0"}, kind="prompt-completion")
@example(record={"prompt": "", "spans": False, "completion": "0"}, kind="prompt-completion")
@example(record={"prompt": "", "spans": [[0, True, "number"]], "completion": "0"}, kind="prompt-completion")
def test_any_record_encodes_or_fails_with_a_row_error(tokenizer, record, kind):
    try:
        examples = encode_records([record], tokenizer, DataFormat(kind=kind), source="fuzz.jsonl")
    except ProbscopeError as e:
        assert "fuzz.jsonl" in str(e) and "\n" not in str(e)
    else:
        for example in examples:
            assert len(example.input_ids) == len(example.target_mask) and any(example.target_mask)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=30) | st.text(max_size=30).map(str.encode), max_size=5))
def test_any_jsonl_bytes_read_or_fail_with_a_line_error(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "f.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    try:
        rows = read_records(path)
    except ProbscopeError as e:
        assert str(e).startswith(f"{path}: line ")
    else:
        assert all(isinstance(r, dict) for r in rows) and len(rows) <= len(lines)
        assert rows == [json.loads(line) for line in path.read_text().split("\n") if line.strip()]


def test_chat_template_that_is_neither_a_file_nor_a_template(tokenizer):
    with pytest.raises(ProbscopeError, match="chat_template: missing.jinja: no such file, and not a Jinja template"):
        encode_records([{"prompt": "a", "completion": "b"}], tokenizer, DataFormat(chat_template="missing.jinja"),
                       source="d.jsonl")
