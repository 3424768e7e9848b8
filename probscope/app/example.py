"""One training example's reply as HTML: each target token coloured by its probability's Figure-2 bin.

    st.markdown(reply_html(rows), unsafe_allow_html=True)   # rows: example_rows(...) of one checkpoint

Hovering a token shows its p, rank, entropy and role. Colours run from dark red (lowest bin, p < 1e-4)
through yellow to blue (p >= 0.9), the same for every checkpoint so two replies compare side by side.
"""

from __future__ import annotations

import html

import polars as pl
from matplotlib import colormaps, colors

from probscope import schema

_RAMP = colormaps["RdYlBu"]
BIN_COLORS = tuple(colors.to_hex(_RAMP(i / (len(schema.BIN_LABELS) - 1))) for i in range(len(schema.BIN_LABELS)))


def _shown(token: str | None) -> str:
    """The token's text, with whitespace made visible where it would vanish."""
    if token is None:
        return "∅"
    text = html.escape(token).replace("\n", "↵<br>").replace("\t", "→")
    return text if text.strip() else text.replace(" ", "·") or "∅"


def reply_html(rows: pl.DataFrame) -> str:
    """The example's target tokens in order as coloured spans with a hover title."""
    rows = rows.with_columns(schema.bin_index(pl.col(schema.P)).alias("bin"))
    spans = []
    for row in rows.iter_rows(named=True):
        background = BIN_COLORS[row["bin"]] if 0 <= row["bin"] < len(BIN_COLORS) else "#ffffff"
        dark = row["bin"] in (0, 1, len(BIN_COLORS) - 1)   # the ramp's dark ends need light text
        title = (f"p = {row[schema.P]:.3g} · rank {row[schema.RANK]} · entropy {row[schema.ENTROPY]:.2f} nats"
                 f" · {row[schema.ROLE] or 'no role'}")
        spans.append(f'<span title="{html.escape(title)}" style="background:{background};'
                     f'color:{"#fff" if dark else "#111"};padding:1px 1px;border-radius:2px">{_shown(row[schema.TOKEN])}'
                     "</span>")
    return ('<div class="probscope-reply" style="font-family:monospace;font-size:0.95rem;line-height:1.9;'
            'white-space:pre-wrap">' + "".join(spans) + "</div>")


def legend_html() -> str:
    """The colour of each bin, as a strip of labelled swatches."""
    cells = "".join(f'<span style="background:{color};color:{"#fff" if i in (0, 1, len(BIN_COLORS) - 1) else "#111"};'
                    f'padding:1px 4px;margin-right:2px;font-size:0.8rem">{label}</span>'
                    for i, (color, label) in enumerate(zip(BIN_COLORS, schema.BIN_LABELS)))
    return f'<div style="line-height:2">{cells}</div>'
