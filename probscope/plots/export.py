"""Write every registered figure of a runs directory to files: each figure in each format, plus its table.

    probscope export --runs runs --out figures --format png,pdf,svg --steps all --runs-filter 'sft*,dft*'
    # or: ps.export_figures("runs", "figures", formats=("png", "svg"), steps="all")

Output, for each registered figure NAME (see probscope.plots.registry): NAME.<format> for each format,
NAME.csv and NAME.md with the numbers it shows (figure2: the histogram; lowest_bin_tokens: the full
listing; ...). Figures of one step (Figure 2, the listing, statistics, ...) show each run at its last
chosen step; step_histograms, extreme_bin_shares and token_movers show every chosen step. A figure with
nothing to show for the selection (token movers of runs probed once) is skipped. Every file is written to
a temporary name and renamed, so a killed export leaves no half file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from probscope.analysis.catalog import find_runs
from probscope.analysis.tokens import StepChoice, load_tokens
from probscope.errors import ProbscopeError
from probscope.plots.registry import FIGURES, draw_registered
from probscope.runs import DEFAULT_PROBE_DATASET, atomic_path, runs_matching, write_text_atomic

DPI = 200


def export_figures(
    runs_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = ("png", "pdf"),
    *,
    dataset: str = DEFAULT_PROBE_DATASET,
    steps: StepChoice = "all",
    runs: Sequence[str] | None = None,
    runs_filter: str | Sequence[str] | None = None,
    figures: Sequence[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write the chosen registered figures (default: all) for the chosen runs and steps; return the paths.

    `runs_filter`: glob pattern(s) on run names (e.g. "sft*"), applied to `runs` or to every run.
    """
    from tqdm.auto import tqdm

    formats = list(dict.fromkeys(fmt.strip().lower().lstrip(".") for fmt in formats if fmt.strip()))   # png,PNG: one
    _check_formats(formats)
    names = list(FIGURES) if figures is None else list(figures)
    for name in names:
        FIGURES.get(name)   # unknown names fail here, before any work, with the nearest known ones
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ProbscopeError(f"{out_dir}: exists and is not a directory; choose another --out")
    if runs_filter is not None:
        runs = _filter_runs(runs_root, runs, runs_filter)

    tokens = load_tokens(runs_root, runs=runs, steps=steps, dataset=dataset, lazy=True)
    _remove_interrupted_writes(out_dir, names)
    written = []
    for name in tqdm(names, desc="probscope export", unit="figure", disable=not progress):
        made = draw_registered(name, tokens, runs_root)
        if made is None:
            continue
        for fmt in formats:
            written.append(_save_figure_atomic(made.figure, out_dir / f"{name}.{fmt}", fmt))
        for kind, text in (("csv", made.table.write_csv()), ("md", markdown_table(made.table))):
            write_text_atomic(out_dir / f"{name}.{kind}", text)
            written.append(out_dir / f"{name}.{kind}")
    return written


def _remove_interrupted_writes(out_dir: Path, names: Sequence[str]) -> None:
    """Temporary files of an export that was killed mid-write (atomic_path names them .NAME.<random>.tmp)."""
    for name in names:
        for leftover in out_dir.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)


def markdown_table(table: pl.DataFrame, *, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of `table` (floats to `digits` significant digits, nulls empty)."""
    def cell(value) -> str:
        if value is None:
            return ""
        text = f"{value:.{digits}g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", "\\n")

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.iter_rows()]
    return "\n".join(lines) + "\n"


def _filter_runs(runs_root, runs: Sequence[str] | None, patterns: str | Sequence[str]) -> list[str]:
    patterns = [p.strip() for p in (patterns.split(",") if isinstance(patterns, str) else patterns) if p.strip()]
    names = [run.name for run in find_runs(runs_root, runs)]
    matched = {pattern: runs_matching(names, pattern) for pattern in patterns}
    kept = [name for name in names if any(name in chosen for chosen in matched.values())]
    unmatched = [pattern for pattern, chosen in matched.items() if not chosen]
    if unmatched and kept:   # a typo in one part would silently drop the runs it meant
        raise ProbscopeError(f"{runs_root}: no run matches --runs-filter part {', '.join(unmatched)} "
                             f"(runs: {', '.join(names)})")
    if not kept:
        raise ProbscopeError(f"{runs_root}: no run matches --runs-filter {','.join(patterns)} "
                             f"(runs: {', '.join(names)})")
    return kept


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
