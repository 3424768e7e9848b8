"""One training example's reply as HTML: each target token coloured by its probability's Figure-2 bin, or by how
much its p changed between two checkpoints.

    texts = token_texts(rows["token_id"].to_list(), tokenizer.decode)   # the tokenizer's own spacing
    st.markdown(reply_html(rows, texts), unsafe_allow_html=True)   # rows: example_rows(...) of one checkpoint
    st.markdown(delta_html(paired_rows(rows_a, rows_b), texts), unsafe_allow_html=True)   # p under B - p under A

Hovering a token shows its p, rank, entropy and role (or both p and their difference). Bin colours
(schema.BIN_COLORS) run from dark violet (lowest bin, p < 1e-4) through green to yellow (p >= 0.9), the same for
every checkpoint so two replies compare side by side; changes (schema.DELTA_COLORS) from brown (p fell by 1)
through white to teal (p rose by 1).
"""

from __future__ import annotations

import html
from collections.abc import Callable

import polars as pl

from probscope import schema

BIN_COLORS = schema.BIN_COLORS
DARK_BINS = range(7)   # the ramp's dark half needs light text
DELTA = "delta"          # paired_rows: p under B minus p under A
COLOURINGS = ("probability bin", "change in p (beside minus checkpoint)")   # the viewer's two colourings
DARK_DELTA = 0.6         # beyond this |change| the ramp is dark enough to need light text


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


def paired_rows(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """One example's target tokens under checkpoints A and B matched by position, in reply order: A's columns,
    p_b and DELTA = p_b - p_a (null where B holds no token there or another token: another tokenization)."""
    other = b.select(schema.POSITION, pl.col(schema.TOKEN_ID).alias("_id_b"), pl.col(schema.P).alias("p_b"))
    paired = a.sort(schema.POSITION).join(other, on=schema.POSITION, how="left", maintain_order="left")
    same = pl.col("_id_b") == pl.col(schema.TOKEN_ID)
    return paired.with_columns(pl.when(same).then(pl.col("p_b")).alias("p_b")).with_columns(
        (pl.col("p_b") - pl.col(schema.P)).alias(DELTA)).drop("_id_b")


def _mix(low: str, high: str, share: float) -> str:
    """The CSS colour `share` (0..1) of the way from `low` to `high` (#rrggbb), in RGB."""
    ends = [[int(color[i:i + 2], 16) for i in (1, 3, 5)] for color in (low, high)]
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(*ends, strict=True))


def delta_color(delta: float | None) -> str:
    """Brown for a fall of p, teal for a rise, near white for none, linear in the change (-1..1); light grey
    when there is no change to show (null)."""
    if delta is None:
        return "#d9d9d9"
    fall, none, rise = schema.DELTA_COLORS
    share = min(abs(delta), 1.0)
    return _mix(none, rise if delta > 0 else fall, share)


def delta_html(paired: pl.DataFrame, texts: list[str] | None = None) -> str:
    """The reply of paired_rows with each token coloured by DELTA (delta_color) and a hover title giving both
    probabilities; `texts` as in reply_html."""
    spans = []
    for i, row in enumerate(paired.iter_rows(named=True)):
        shown = _spaced(texts[i]) if texts is not None else _shown(row[schema.TOKEN])
        delta = row[DELTA]
        title = (f"p {row[schema.P]:.3g} → {row['p_b']:.3g} (Δp {delta:+.3g})" if delta is not None
                 else f"p {row[schema.P]:.3g} → another token or none at this position")
        text = "#fff" if delta is not None and abs(delta) > DARK_DELTA else "#111"
        spans.append(f'<span title="{html.escape(title)}" style="background:{delta_color(delta)};color:{text};'
                     f'padding:1px 1px;border-radius:2px">{shown}</span>')
    return ('<div class="probscope-delta" style="font-family:monospace;font-size:0.95rem;line-height:1.9;'
            'white-space:pre-wrap">' + "".join(spans) + "</div>")


def delta_legend_html() -> str:
    """The change colours at a few values of Δp, as a strip of labelled swatches."""
    def swatch(delta: float) -> str:
        text = "#fff" if abs(delta) > DARK_DELTA else "#111"
        return (f'<span style="background:{delta_color(delta)};color:{text};padding:1px 4px;margin-right:2px;'
                f'font-size:0.8rem">Δp {delta:+g}</span>')

    cells = "".join(swatch(delta) for delta in (-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0))
    return f'<div style="line-height:2">{cells}</div>'
