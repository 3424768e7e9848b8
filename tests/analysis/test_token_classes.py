"""Token classes fill the roles of tokens whose data has none (real datasets)."""

import polars as pl
import pytest

from probscope import schema
from probscope.analysis.token_classes import TOKEN_CLASSES, fill_roles_with_classes, register_token_class, token_class
from probscope.errors import ProbscopeError


def test_token_classes_of_real_looking_tokens():
    cases = {" the": "connective", "Let": "connective", ",": "punctuation", " $\\": "punctuation",
             "<|im_end|>": "special", "</s>": "special", "<eos>": "special", " 123": "number", "3.5": "number",
             "\n": "whitespace", " cat": "word", "Kosen": "word", None: "whitespace"}
    assert {token: token_class(token) for token in cases} == cases
    assert set(cases.values()) <= set(schema.ROLES)


def test_roles_from_the_data_are_kept_and_missing_ones_filled():
    frame = pl.DataFrame({schema.TOKEN: [" the", ",", " the", "7"], schema.ROLE: [None, None, "connective", "answer"]},
                         schema={schema.TOKEN: pl.String, schema.ROLE: pl.String})
    filled = fill_roles_with_classes(frame)
    assert filled[schema.ROLE].to_list() == ["connective", "punctuation", "connective", "answer"]
    assert fill_roles_with_classes(frame.lazy()).collect().equals(filled)


def test_token_class_registry_refuses_duplicates_and_suggests_names():
    with pytest.raises(ProbscopeError, match="token class 'number' is already registered"):
        register_token_class("number")(lambda token: False)
    with pytest.raises(ProbscopeError, match="did you mean 'punctuation'"):
        TOKEN_CLASSES.get("punctuaton")


def test_a_registered_class_takes_part_until_removed():
    register_token_class("latex")(lambda token: token.startswith("\\"))
    try:
        assert token_class("\\frac") == "latex"
    finally:
        TOKEN_CLASSES.remove("latex")
    assert token_class("\\frac") == "word"
