"""One training example's reply as HTML: each target token coloured by its probability's Figure-2 bin.

    st.markdown(reply_html(rows), unsafe_allow_html=True)   # rows: example_rows(...) of one checkpoint

Hovering a token shows its p, rank, entropy and role. Colours (schema.BIN_COLORS) run from dark violet
(lowest bin, p < 1e-4) through green to yellow (p >= 0.9), the same for every checkpoint so two replies
compare side by side.
"""

from __future__ import annotations

import html

import polars as pl

from probscope import schema
from probscope.analysis.histograms import bin_index

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


def reply_html(rows: pl.DataFrame) -> str:
    """The example's target tokens in order as coloured spans with a hover title."""
    rows = rows.with_columns(bin_index(pl.col(schema.P)).alias("bin"))
    spans = []
    for row in rows.iter_rows(named=True):
        background = BIN_COLORS[row["bin"]] if 0 <= row["bin"] < len(BIN_COLORS) else "#ffffff"
        title = (f"p = {row[schema.P]:.3g} · rank {row[schema.RANK]} · entropy {row[schema.ENTROPY]:.2f} nats"
                 f" · {row[schema.ROLE] or 'no role'}")
        spans.append(f'<span title="{html.escape(title)}" style="background:{background};'
                     f'color:{_text_color(row["bin"])};padding:1px 1px;border-radius:2px">{_shown(row[schema.TOKEN])}'
                     "</span>")
    return ('<div class="probscope-reply" style="font-family:monospace;font-size:0.95rem;line-height:1.9;'
            'white-space:pre-wrap">' + "".join(spans) + "</div>")


def legend_html() -> str:
    """The colour of each bin, as a strip of labelled swatches."""
    cells = "".join(f'<span style="background:{color};color:{_text_color(i)};'
                    f'padding:1px 4px;margin-right:2px;font-size:0.8rem">{label}</span>'
                    for i, (color, label) in enumerate(zip(BIN_COLORS, schema.BIN_LABELS)))
    return f'<div style="line-height:2">{cells}</div>'
