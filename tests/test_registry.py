"""Registry[T]: duplicates raise, unknown names suggest the nearest; every registry in probscope is one.

    .venv/bin/pytest tests/test_registry.py -q
"""

import subprocess
import sys

import pytest

from probscope.errors import ProbscopeError
from probscope.registry import Registry


def test_duplicate_name_raises_and_keeps_the_first():
    things: Registry[int] = Registry("thing")
    things.register("dft")(1)
    with pytest.raises(ProbscopeError, match="thing 'dft' is already registered"):
        things.add("dft", 2)
    assert things.get("dft") == 1 and things.names() == ("dft",)


def test_unknown_name_suggests_the_nearest_and_lists_all():
    things: Registry[str] = Registry("objective")
    for name in ("sft", "dft", "dft-floor"):
        things.add(name, name)
    with pytest.raises(ProbscopeError) as e:
        things.get("dtf")
    assert "unknown objective 'dtf'" in str(e.value) and "did you mean 'dft'" in str(e.value)
    assert str(e.value).endswith("known: sft, dft, dft-floor")
    with pytest.raises(ProbscopeError, match="no close"):
        raise ProbscopeError("no close" if "did you mean" not in things.unknown_message("zzzzzz") else "close")


def test_probscope_bench_lists_its_benchmarks():
    out = subprocess.run([sys.executable, "-m", "probscope.perf", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "probe" in out.stdout and "train" in out.stdout
    out = subprocess.run([sys.executable, "-m", "probscope.perf", "prbe"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2


def test_every_command_prints_its_help(capsys):
    """Each registered subcommand's --help renders (a '%' in a field's help once broke argparse's)."""
    from probscope.cli import main as cli_main
    from probscope.cli.commands import COMMANDS, load_commands

    load_commands()
    for name in COMMANDS.names():
        try:
            code = cli_main([name, "--help"])
        except SystemExit as e:   # argparse's help exits
            code = e.code
        out = capsys.readouterr().out
        assert code == 0 and "usage" in out.lower(), name
