"""Token classes: a role for every token, also where the data carries none (any real dataset).

`load_tokens` fills a null `role` with the token's class, so role shares and lowest-bin listings work
on any model and dataset; the built-in task's roles come from its generator and are kept. Classes are
tried in registry order and the first whose test accepts the (stripped) token string wins; a token
no class accepts is a "word". A new class is one decorated function:

    @register_token_class("latex")
    def latex(token: str) -> bool:
        return token.startswith("\\")
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import polars as pl

from probscope import schema
from probscope.registry import Registry

# A name registered twice raises; TOKEN_CLASSES.get("punct") suggests "punctuation".
TOKEN_CLASSES: Registry[Callable[[str], bool]] = Registry("token class")
register_token_class = TOKEN_CLASSES.register
FALLBACK_CLASS = "word"

# Function words and discourse markers: the stylistic tokens the DFT paper finds in the lowest bin
# ("the", "let", ...). Lower case; compared with the stripped, lower-cased token.
CONNECTIVE_WORDS = frozenset("""
a an the and or but so then thus hence therefore now next first second finally also however since because
let lets let's we us our i you it its this that these those there here is are was were be been to of in on
at by for with from as into step steps which what when where how if else while do does did can will would
""".split())


# compiled once: a listing classifies a whole vocabulary (32,000 tokens) on its first call
_SPECIAL = re.compile(r"<\|[^<>]+\|>|</?s>|<(?:bos|eos|pad|unk|user|assistant|system)>")
_PUNCTUATION = re.compile(r"[^\w\s]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@register_token_class("special")
def special(token: str) -> bool:
    return _SPECIAL.fullmatch(token) is not None


@register_token_class("whitespace")
def whitespace(token: str) -> bool:
    return token == ""


@register_token_class("punctuation")
def punctuation(token: str) -> bool:
    return _PUNCTUATION.fullmatch(token) is not None


@register_token_class("number")
def number(token: str) -> bool:
    return _NUMBER.fullmatch(token) is not None


@register_token_class("connective")
def connective(token: str) -> bool:
    return token.lower() in CONNECTIVE_WORDS


def token_class(token: str | None) -> str:
    """The first registered class accepting `token` (whitespace stripped), else "word"."""
    stripped = (token or "").strip()
    for name, test in TOKEN_CLASSES.items():
        if test(stripped):
            return name
    return FALLBACK_CLASS


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)   # a token table, eager or lazy: returned as given


def fill_roles_with_classes(tokens: Frame) -> Frame:
    """`role` where the data gave one, else the token's class (classified once per distinct token)."""

    def classify(strings: pl.Series) -> pl.Series:
        classes = {s: token_class(s) for s in strings.unique().to_list()}
        return strings.replace_strict(classes, default=FALLBACK_CLASS, return_dtype=pl.String)

    # elementwise: a filter after this (e.g. p < 1e-4) is pushed below it, so only kept rows are classified
    token_classes = pl.col(schema.TOKEN).map_batches(classify, return_dtype=pl.String, is_elementwise=True)
    return tokens.with_columns(pl.col(schema.ROLE).fill_null(token_classes))
