"""Analyses of probe tables: polars in, polars out (see each module's docstring for examples).

    from probscope.analysis import load_tokens, probability_histogram
    hist = probability_histogram(load_tokens("runs"))
"""

from probscope.analysis.catalog import file_signature, find_runs, probe_signature, runs_overview
from probscope.analysis.class_histogram import class_histogram
from probscope.analysis.diagnose import diagnose
from probscope.analysis.dynamics import dynamics_curves, load_dynamics
from probscope.analysis.gradients import gradient_mass_by_bin, gradient_weights
from probscope.analysis.histograms import bins, probability_histogram
from probscope.analysis.left_behind import end_of_reply, left_behind_by_role, left_behind_table, left_behind_tokens
from probscope.analysis.listings import lowest_bin_tokens, role_shares, stylistic_shares
from probscope.analysis.movers import load_pair, same_tokenizer, token_movers
from probscope.analysis.stats import distribution_statistics, pairwise_statistics
from probscope.analysis.steps import at_last_step, extreme_bin_shares, step_histograms
from probscope.analysis.summary import distribution_summary, paired_bins, token_alignment
from probscope.analysis.tokens import load_tokens, select_steps, series_columns
from probscope.probe.table import scan_probe_table

__all__ = [
    "at_last_step", "bins", "class_histogram", "diagnose", "distribution_statistics",
    "distribution_summary", "dynamics_curves", "end_of_reply", "extreme_bin_shares", "file_signature",
    "find_runs", "gradient_mass_by_bin", "gradient_weights", "left_behind_by_role", "left_behind_table",
    "left_behind_tokens", "load_dynamics", "load_pair", "load_tokens", "lowest_bin_tokens", "paired_bins",
    "pairwise_statistics", "probability_histogram", "probe_signature", "role_shares", "runs_overview",
    "same_tokenizer", "scan_probe_table", "select_steps", "series_columns", "step_histograms", "stylistic_shares",
    "token_alignment", "token_movers",
]
