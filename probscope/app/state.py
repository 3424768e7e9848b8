"""What the user chose (runs directory, dataset, runs, a step per run) and how it survives reruns and URLs.

    selection = current()            # in a page: the sidebar's Selection, or None when nothing is chosen
    value = url_state("upper", 1e-4, float)   # a page widget's value, seeded from ?upper=... in the URL

The sidebar (dashboard.py) builds the Selection on every rerun; pages only read it. Query parameters
hold the selection so a view can be shared: `?dataset=train&runs=sft,dft&steps=sft:10,dft:10`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from probscope.analysis.catalog import Signature, file_signature
from probscope.runs import PROBE_DONE, Run


@dataclass(frozen=True)
class Selection:
    runs_root: str
    dataset: str
    steps: tuple[tuple[str, int], ...]        # (run name, step) per chosen run, in sidebar order
    probed: tuple[tuple[str, tuple[int, ...]], ...]   # every probed run of the dataset and its finished steps
    methods: tuple[tuple[str, str], ...]      # run name -> method, for every probed run
    groups: tuple[tuple[str, str], ...] = ()  # run name -> its group (seeds.run_groups), when runs are grouped
    per_seed: bool = False                    # grouped: each run of a group drawn beside the group's mean

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.steps)

    def probed_steps(self, run: str) -> tuple[int, ...]:
        return dict(self.probed)[run]

    def last_steps(self) -> tuple[tuple[str, int], ...]:
        """Each chosen run at its last probed step (the 'final step' of comparisons)."""
        return tuple((name, self.probed_steps(name)[-1]) for name in self.runs)

    def method(self, run: str) -> str:
        return dict(self.methods)[run]

    def grouped(self) -> bool:
        """Whether runs are grouped and some chosen group holds more than one run."""
        chosen = [group for name, group in self.groups if name in self.runs]
        return len(set(chosen)) < len(chosen)


def current() -> Selection | None:
    return st.session_state.get("selection")


def runs_root() -> str | None:
    return st.session_state.get("runs_root")


def probe_signature(runs_root: str, dataset: str, steps: tuple) -> Signature:
    """Cache key of the probe tables `steps` names ((run, step) or (run, (steps...))): marker + manifest mtimes.

    A probe writes its completion marker last, atomically: an equal signature means the same finished tables.
    """
    paths = []
    for name, chosen in steps:
        run = Run.named(runs_root, name)
        paths.append(run.manifest_path)
        paths += [run.probe_dir(step, dataset) / PROBE_DONE
                  for step in (chosen if isinstance(chosen, tuple) else (chosen,))]
    return file_signature(paths)


# What a running job adds to a runs directory, run by run: its manifest (status), finished checkpoints,
# finished probes and evaluations (their completion markers) and training-dynamics parts.
LIVE_PATTERNS = ("*/manifest.json", "*/checkpoints/*/config.json", "*/checkpoints/*/adapter_config.json",
                 f"*/probes/*/*/{PROBE_DONE}", f"*/evals/*/*/{PROBE_DONE}", "*/dynamics/*.parquet")


def runs_signature(runs_root: str) -> Signature:
    """Cache key of everything a job may add to `runs_root` (LIVE_PATTERNS): auto-refresh reruns the page
    when it changes. Files vanishing between listing and stat are left out."""
    root = Path(runs_root)
    found = []
    for pattern in LIVE_PATTERNS:
        for path in root.glob(pattern):
            try:
                found.append((str(path), path.stat().st_mtime_ns))
            except OSError:
                pass
    return tuple(sorted(found))


def url_state(key: str, default: Any, parse: Callable[[str], Any] = str, valid: Collection | None = None) -> Any:
    """The session value of widget `key`, seeded once from the URL's ?key=... (unparseable values ignored),
    and reset to `default` whenever it is not in `valid` (e.g. a run no longer chosen).

    Call before creating the widget (with key=`key` and no default), then `to_url(key)` after it.
    """
    if key not in st.session_state:
        raw = st.query_params.get(key)
        try:
            st.session_state[key] = parse(raw) if raw is not None else default
        except (TypeError, ValueError):
            st.session_state[key] = default
    if valid is not None and not _within(st.session_state[key], valid):
        st.session_state[key] = default
    return st.session_state[key]


def _within(value: Any, valid: Collection) -> bool:
    return all(one in valid for one in value) if isinstance(value, list) else value in valid


def to_url(key: str, value: Any | None = None) -> None:
    """Write a widget's value (or `value`) into the URL's query parameters; None removes it. A checkpoint
    (run, step) is written run:step."""
    value = st.session_state.get(key) if value is None else value
    if value is None:
        st.query_params.pop(key, None)
    elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        st.query_params[key] = checkpoint_text(value)
    else:
        st.query_params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def checkpoint_text(checkpoint: tuple[str, int]) -> str:
    return f"{checkpoint[0]}:{checkpoint[1]}"


def parse_checkpoint(text: str) -> tuple[str, int]:
    """'run:step' -> (run, step); ValueError when it is not one."""
    run, step = text.rsplit(":", 1)
    return run, int(step)


def parse_list(parse: Callable[[str], Any]) -> Callable[[str], list]:
    """A parser of comma lists of what `parse` reads (an empty text: an empty list)."""
    return lambda text: [parse(part) for part in text.split(",") if part]
