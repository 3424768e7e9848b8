"""`python -m probscope.app.serve run SCRIPT [ARGS]`: `streamlit run`, with the libraries of the dashboard's
pages imported before the server answers, not on the first page a user opens.

A fresh `streamlit run` imports them when its first script runs: pandas and pyarrow (Streamlit's tables),
polars, Altair and probscope's analyses, ~1 s of an idle machine's first page (2.5 s on two busy cores).
probscope.app's own modules are not imported here: their Streamlit caches belong to the running server.
"""

from __future__ import annotations

# What the pages import that `streamlit run` has not imported by the time it serves (measured with -X importtime)
PRELOADED = ("pandas", "pyarrow", "polars", "altair", "probscope.analysis", "probscope.evaluate.curves",
             "probscope.integrity")


def main() -> None:
    """Import PRELOADED, then Streamlit's command line (it exits with the server's status)."""
    import importlib

    for module in PRELOADED:
        importlib.import_module(module)
    from streamlit.web import cli

    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
