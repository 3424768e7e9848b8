"""The example viewer's top-k alternatives, computed on demand from a checkpoint's weights and cached.

    found = alternatives(selection, "sft", 10, example_id, rows, k=10)   # a table, or the one line saying why not

The model and the encoded examples load once per checkpoint (st.cache_resource); one forward pass answers
every reply position of the example (probscope.probe.alternatives). torch loads only here, on that click.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis.catalog import Signature, file_signature
from probscope.app import state
from probscope.errors import ProbscopeError, first_line
from probscope.runs import Run

WEIGHT_FILES = ("*.safetensors", "*.bin")   # what save_pretrained writes the weights as
TOKEN = "token"                             # the alternative's readable text, added to the library's columns


def weights(checkpoint: Path) -> list[Path]:
    return sorted(path for pattern in WEIGHT_FILES for path in checkpoint.glob(pattern))


@st.cache_resource(max_entries=2, show_spinner="Loading the checkpoint…")
def _model(path: str, signature: Signature):
    from probscope.models import load_causal_lm

    return load_causal_lm(path).eval()


@st.cache_resource(max_entries=4, show_spinner="Reading the probed examples again…")
def _inputs(runs_root: str, run: str, step: int, dataset: str, signature: Signature) -> dict[str, list[int]]:
    from probscope.probe.alternatives import example_inputs

    return example_inputs(Run.named(runs_root, run), step, dataset)


@st.cache_resource(max_entries=4, show_spinner=False)
def _tokenizer(runs_root: str, run: str, step: int, signature: Signature):
    from probscope.models import load_tokenizer
    from probscope.probe.run import tokenizer_source

    found = Run.named(runs_root, run)
    return load_tokenizer(tokenizer_source(found.checkpoint(step), found.read_manifest()))


@st.cache_data(max_entries=32, show_spinner="Computing the top tokens…")
def _alternatives(runs_root: str, dataset: str, run: str, step: int, example_id: str, positions: tuple[int, ...],
                  token_ids: tuple[int, ...], k: int, signature: Signature) -> pl.DataFrame | str:
    from probscope.probe.alternatives import TOKEN_ID, top_alternatives
    from probscope.probe.batching import token_string

    checkpoint = Run.named(runs_root, run).checkpoint(step)
    ids = _inputs(runs_root, run, step, dataset, signature).get(example_id)
    if ids is None:
        return f"example {example_id} is not in the data the probe of {run} step {step} read (the file changed?)"
    if max(positions) >= len(ids) or [ids[at] for at in positions] != list(token_ids):
        return (f"the data no longer encodes example {example_id} into the tokens {run} step {step} probed "
                "(the data file or its format changed): no alternatives")
    table = top_alternatives(_model(str(checkpoint), signature), ids, positions, k)
    tokenizer = _tokenizer(runs_root, run, step, signature)
    names: dict[int, str | None] = {}   # token_string's cache
    return table.with_columns(pl.col(TOKEN_ID).map_elements(lambda one: token_string(tokenizer, one, names),
                                                            return_dtype=pl.String).alias(TOKEN))


def alternatives(selection: state.Selection, run: str, step: int, example_id: str, rows: pl.DataFrame,
                 k: int) -> pl.DataFrame | str:
    """The `k` most likely tokens at every target position of the example (`rows`: its probed tokens at that
    checkpoint), or one line saying why there are none (no weights saved, the data changed, a load failed)."""
    checkpoint = Run.named(selection.runs_root, run).checkpoint(step)
    found = weights(checkpoint)
    if not found:
        return f"{checkpoint}: no weights saved (only {', '.join(WEIGHT_FILES)} hold them), so no alternatives"
    manifest = Run.named(selection.runs_root, run).manifest_path
    signature = file_signature([*found, manifest])
    try:
        return _alternatives(selection.runs_root, selection.dataset, run, step, example_id,
                             tuple(rows[schema.POSITION].to_list()), tuple(rows[schema.TOKEN_ID].to_list()), k,
                             signature)
    except (ProbscopeError, OSError) as e:
        return first_line(e)
