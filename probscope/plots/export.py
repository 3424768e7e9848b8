"""Write every registered figure of a runs directory to files: each figure in each format, plus its table.

    probscope export --runs runs --out figures --format png,pdf
    # or: ps.export_figures("runs", "figures", formats=("png", "svg"), steps="all")

Output, for each registered figure NAME (see probscope.plots.registry): NAME.<format> for each format
and NAME.csv with the numbers it shows (figure2.csv: the histogram; lowest_bin_tokens.csv: the full
listing). Every file is written to a temporary name and renamed, so a killed export leaves no half file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from probscope.analysis.tokens import StepChoice, load_tokens, series_columns
from probscope.errors import ProbscopeError
from probscope.plots.registry import FIGURES
from probscope.runs import DEFAULT_PROBE_DATASET, atomic_path, write_text_atomic

DPI = 200


def export_figures(
    runs_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = ("png", "pdf"),
    *,
    dataset: str = DEFAULT_PROBE_DATASET,
    steps: StepChoice = "last",
    runs: Sequence[str] | None = None,
    figures: Sequence[str] | None = None,
) -> list[Path]:
    """Write the chosen registered figures (default: all) for the chosen runs and steps; return the paths."""
    formats = [fmt.strip().lower().lstrip(".") for fmt in formats if fmt.strip()]
    _check_formats(formats)
    names = list(FIGURES) if figures is None else list(figures)
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise ProbscopeError(f"figure(s) {', '.join(unknown)} not registered (figures: {', '.join(FIGURES)})")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ProbscopeError(f"{out_dir}: exists and is not a directory; choose another --out")

    tokens = load_tokens(runs_root, runs=runs, steps=steps, dataset=dataset, lazy=True)
    by = series_columns(tokens)
    written = []
    for name in names:
        table, figure = FIGURES[name](tokens, by=by)
        for fmt in formats:
            written.append(_save_figure_atomic(figure, out_dir / f"{name}.{fmt}", fmt))
        csv_path = out_dir / f"{name}.csv"
        write_text_atomic(csv_path, table.write_csv())
        written.append(csv_path)
    return written


def _check_formats(formats: list[str]) -> None:
    supported = Figure().canvas.get_supported_filetypes()
    bad = [fmt for fmt in formats if fmt not in supported]
    if bad or not formats:
        raise ProbscopeError(
            f"format(s) {', '.join(bad) or '(none)'} not supported; choose from {', '.join(sorted(supported))}"
        )


def _save_figure_atomic(figure: Figure, path: Path, fmt: str) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=fmt, dpi=DPI)
    return path
