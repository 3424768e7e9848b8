"""The import graph points down the stages: a stage never imports a later one (read from the source with ast,
function-level imports included, so a lazy import cannot hide an upward edge)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "probscope"
LATER_STAGES = ("probscope.analysis", "probscope.evaluate", "probscope.plots", "probscope.app",
                "probscope.replication", "probscope.demo")
# stage -> the later stages it must not import (evaluate shares the argument checks with analysis via checks.py)
NEVER_IMPORTED = {
    "runs": (*LATER_STAGES, "probscope.data", "probscope.probe", "probscope.training"),   # every stage's base
    **dict.fromkeys(("data", "probe", "training"), LATER_STAGES),
    "evaluate": tuple(stage for stage in LATER_STAGES if stage != "probscope.evaluate"),
}
THIN_LAYERS = ("app", "cli", "perf")       # the dashboard, the commands and the benchmarks may import the app


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module `source` (a module of `package`) imports; `from probscope import x` counts as probscope.x,
    relative imports are resolved."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return found


def upward(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    """The modules of `forbidden` (or inside them) that the file `path` imports."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    imported = imported_modules(path.read_text(), package)
    return sorted(m for m in imported if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_the_import_reader_sees_lazy_relative_and_from_imports():
    source = ("import json\ndef f():\n    from probscope import plots\n    import probscope.app.ui\n"
              "from . import layout\nfrom ..analysis import tokens\n")
    imported = imported_modules(source, "probscope.runs")
    assert {"json", "probscope.plots", "probscope.app.ui", "probscope.runs.layout",
            "probscope.analysis.tokens"} <= imported


@pytest.mark.parametrize("stage", NEVER_IMPORTED)
def test_lower_stages_never_import_later_ones(stage):
    edges = {module_name(path): upward(path, NEVER_IMPORTED[stage]) for path in sorted((PACKAGE / stage).rglob("*.py"))}
    assert {module: targets for module, targets in edges.items() if targets} == {}


def test_the_library_never_imports_the_app():
    library = [path for path in PACKAGE.rglob("*.py")
               if path.relative_to(PACKAGE).parts[0] not in THIN_LAYERS]
    edges = {module_name(path): upward(path, ("probscope.app",)) for path in library}
    assert {module: targets for module, targets in edges.items() if targets} == {}
