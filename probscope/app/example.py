"""One training example's reply as HTML: each target token coloured by its probability's Figure-2 bin.

    texts = token_texts(rows["token_id"].to_list(), tokenizer.decode)   # the tokenizer's own spacing
    st.markdown(reply_html(rows, texts), unsafe_allow_html=True)   # rows: example_rows(...) of one checkpoint

Hovering a token shows its p, rank, entropy and role. Colours (schema.BIN_COLORS) run from dark violet
(lowest bin, p < 1e-4) through green to yellow (p >= 0.9), the same for every checkpoint so two replies
compare side by side.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import polars as pl

from probscope import schema

BIN_COLORS = schema.BIN_COLORS
DARK_BINS = range(7)   # the ramp's dark half needs light text


def _text_color(bin_: int) -> str:
    return "#fff" if bin_ in DARK_BINS else "#111"


def _shown(token: str | None) -> str:
    """The token's text, with whitespace made visible where it would vanish."""
    if token is None:
        return "∅"
    text = html.escape(token).replace("\n", "↵<br>").replace("\t", "→")
    return text if text.strip() else text.replace(" ", "·") or "∅"


def token_texts(ids: list[int], decode: Callable[[list[int]], str]) -> list[str]:
    """Each token's text with the tokenizer's own spacing: what it adds to the decoded reply so far (a
    SentencePiece '▁' becomes a space, a byte-level 'Ġ' too, a word-level tokenizer's joins show)."""
    texts, before = [], ""
    for end in range(1, len(ids) + 1):
        text = decode(ids[:end])
        texts.append(text[len(before):] if text.startswith(before) else text)
        before = text
    return texts


def _spaced(text: str) -> str:
    """Text in its own spacing, escaped; a newline shown as ↵ and kept."""
    return html.escape(text).replace("\n", "↵<br>").replace("\t", "→") or "∅"


def reply_html(rows: pl.DataFrame, texts: list[str] | None = None) -> str:
    """The example's target tokens in order as coloured spans with a hover title; `texts`: each token's text in
    the tokenizer's own spacing (token_texts), else the stored token with its whitespace made visible."""
    rows = rows.with_columns(schema.bin_index(pl.col(schema.P)).alias("bin"))
    spans = []
    for i, row in enumerate(rows.iter_rows(named=True)):
        shown = _spaced(texts[i]) if texts is not None else _shown(row[schema.TOKEN])
        background = BIN_COLORS[row["bin"]] if 0 <= row["bin"] < len(BIN_COLORS) else "#ffffff"
        title = (f"p = {row[schema.P]:.3g} · rank {row[schema.RANK]} · entropy {row[schema.ENTROPY]:.2f} nats"
                 f" · {row[schema.ROLE] or 'no role'}")
        spans.append(f'<span title="{html.escape(title)}" style="background:{background};'
                     f'color:{_text_color(row["bin"])};padding:1px 1px;border-radius:2px">{shown}'
                     "</span>")
    return ('<div class="probscope-reply" style="font-family:monospace;font-size:0.95rem;line-height:1.9;'
            'white-space:pre-wrap">' + "".join(spans) + "</div>")


def legend_html() -> str:
    """The colour of each bin, as a strip of labelled swatches."""
    cells = "".join(f'<span style="background:{color};color:{_text_color(i)};'
                    f'padding:1px 4px;margin-right:2px;font-size:0.8rem">{label}</span>'
                    for i, (color, label) in enumerate(zip(BIN_COLORS, schema.BIN_LABELS, strict=False)))
    return f'<div style="line-height:2">{cells}</div>'
