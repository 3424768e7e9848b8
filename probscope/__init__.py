"""probscope: see how fine-tuning reshapes a language model's token probabilities.

    import probscope as ps
    tokens = ps.load_tokens("runs")                 # polars DataFrame, one row per target token
    ps.plot_probability_histogram(ps.probability_histogram(tokens))

Heavy dependencies (torch, transformers) load only when a function that needs them is called.
"""

__version__ = "0.1.0"
