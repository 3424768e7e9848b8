"""probscope: see how fine-tuning reshapes a language model's token probabilities.

    import probscope as ps
    tokens = ps.load_tokens("runs")                 # polars DataFrame, one row per target token
    ps.plot_probability_histogram(ps.probability_histogram(tokens))

Heavy dependencies (torch, transformers) load only when a function that needs them is called.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The notebook API: name -> module that defines it, imported on first use so `import probscope` stays light.
_LAZY_API = {
    **dict.fromkeys(
        ("load_tokens", "select_steps", "series_columns", "probability_histogram", "lowest_bin_tokens",
         "role_shares", "stylistic_shares", "runs_overview", "load_dynamics", "dynamics_curves",
         "at_last_step", "step_histograms", "extreme_bin_shares", "load_pair", "same_tokenizer", "token_movers",
         "left_behind_by_role", "left_behind_table", "left_behind_tokens", "end_of_reply", "diagnose",
         "distribution_statistics", "pairwise_statistics", "gradient_weights", "gradient_mass_by_bin",
         "class_histogram", "distribution_summary", "paired_bins", "token_alignment"),
        "probscope.analysis",
    ),
    **dict.fromkeys(("load_evals", "accuracy_curves", "load_lm_eval_results", "evaluate_runs", "grade_all",
                     "problem_results"),
                    "probscope.evaluate"),
    "check_runs": "probscope.integrity",
    "train": "probscope.training.run",
    "add_run": "probscope.runs.add",
    "plot_training_dynamics": "probscope.plots.dynamics",
    **dict.fromkeys(
        ("plot_probability_histogram", "plot_lowest_bin_tokens", "plot_step_histograms", "plot_extreme_bin_shares",
         "plot_token_movers", "plot_left_behind", "plot_distribution_statistics", "plot_gradient_mass",
         "plot_class_histogram", "plot_accuracy_curves", "export_figures", "FIGURES", "register_figure"),
        "probscope.plots",
    ),
}

if TYPE_CHECKING:   # what the lazy API resolves to, for IDEs and type checkers (never run)
    from probscope.analysis import (  # noqa: F401
        at_last_step,
        distribution_statistics,
        distribution_summary,
        dynamics_curves,
        end_of_reply,
        extreme_bin_shares,
        gradient_mass_by_bin,
        gradient_weights,
        left_behind_by_role,
        left_behind_table,
        left_behind_tokens,
        load_dynamics,
        load_pair,
        load_tokens,
        lowest_bin_tokens,
        paired_bins,
        pairwise_statistics,
        probability_histogram,
        role_shares,
        runs_overview,
        same_tokenizer,
        select_steps,
        series_columns,
        step_histograms,
        stylistic_shares,
        token_movers,
    )
    from probscope.analysis.class_histogram import class_histogram  # noqa: F401 (a module of the same name)
    from probscope.analysis.diagnose import diagnose  # noqa: F401 (a module of the same name)
    from probscope.evaluate import (  # noqa: F401
        accuracy_curves,
        evaluate_runs,
        grade_all,
        load_evals,
        load_lm_eval_results,
        problem_results,
    )
    from probscope.integrity import (  # noqa: F401
        check_runs,
    )
    from probscope.plots import (  # noqa: F401
        FIGURES,
        export_figures,
        plot_accuracy_curves,
        plot_class_histogram,
        plot_distribution_statistics,
        plot_extreme_bin_shares,
        plot_gradient_mass,
        plot_left_behind,
        plot_lowest_bin_tokens,
        plot_probability_histogram,
        plot_step_histograms,
        plot_token_movers,
        register_figure,
    )
    from probscope.plots.dynamics import (  # noqa: F401
        plot_training_dynamics,
    )
    from probscope.runs.add import (  # noqa: F401
        add_run,
    )
    from probscope.training.run import (  # noqa: F401
        train,
    )


def __getattr__(name: str):
    if name in _LAZY_API:
        import importlib

        return getattr(importlib.import_module(_LAZY_API[name]), name)
    raise AttributeError(f"module 'probscope' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_API])
