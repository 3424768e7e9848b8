"""Analyses of probe tables: polars in, polars out (see each module's docstring for examples).

    from probscope.analysis import load_tokens, probability_histogram
    hist = probability_histogram(load_tokens("runs"))
"""

from probscope.analysis.catalog import probe_signature, runs_overview
from probscope.analysis.dynamics import dynamics_curves, load_dynamics
from probscope.analysis.histograms import bin_index, bins, probability_histogram
from probscope.analysis.listings import lowest_bin_tokens, role_shares, stylistic_shares
from probscope.analysis.tokens import load_tokens, select_steps, series_columns
from probscope.probe.table import scan_probe_table

__all__ = [
    "bin_index", "bins", "dynamics_curves", "load_dynamics", "load_tokens", "lowest_bin_tokens",
    "probability_histogram", "probe_signature", "role_shares", "runs_overview", "scan_probe_table",
    "select_steps", "series_columns", "stylistic_shares",
]
