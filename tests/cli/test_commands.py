"""One way to declare flags: every command and benchmark is a dataclass turned into flags by add_dataclass_flags.

    .venv/bin/pytest tests/cli/test_commands.py -q
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from probscope.cli import build_parser
from probscope.cli import main as cli_main
from probscope.cli.commands import COMMANDS, Flags, add_dataclass_flags, load_commands, parse_options

PACKAGE = Path(__file__).resolve().parents[2] / "probscope"
# argparse used by hand, for what is not a command line of probscope's: the Streamlit script's own arguments
# (passed after `--` by `probscope dashboard`) and the built-in task's `python -m` generator.
NOT_COMMANDS = {"app/dashboard.py", "builtin/task.py"}
HAND_WRITTEN = re.compile(r"\.add_argument\(|\bargparse\.ArgumentParser\(|\.add_parser\(|add_subparsers\(")


def test_flags_are_declared_one_way():
    """No parser is written by hand outside the one helper (grep over the package source)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name in NOT_COMMANDS or name in ("cli/commands.py", "cli/__init__.py"):
            continue
        offenders += [f"{name}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1)
                      if HAND_WRITTEN.search(line)]
    assert offenders == []
    init = (PACKAGE / "cli" / "__init__.py").read_text()   # the top parser: --debug and the subcommands only
    assert init.count("add_argument(") == 1 and "add_dataclass_flags" not in init


@dataclass
class Example:
    path: str = field(metadata={"help": "a positional argument", "positional": True})
    count: int = field(metadata={"help": "required, an int"})
    runs_root: str = field(default="runs", metadata={"help": "text"})
    ratio: float = field(default=0.5, metadata={"help": "a float"})
    where: Path | None = field(default=None, metadata={"help": "a path"})
    fast: bool = field(default=False, metadata={"help": "a switch"})
    progress: bool = field(default=True, metadata={"help": "on unless --no-progress"})
    seeds: list[int] = field(default_factory=lambda: [0, 1], metadata={"help": "comma text, parsed by the class"})
    pattern: list[str] | None = field(default=None, metadata={"help": "repeatable", "repeat": True})
    mode: str = field(default="a", metadata={"help": "one of two", "choices": ("a", "b")})
    secret: str | None = field(default=None, metadata={"help": "not in --help", "hidden": True})
    internal: int = field(default=3, metadata={"flag": False})

    def __post_init__(self) -> None:
        if isinstance(self.seeds, str):
            self.seeds = [int(s) for s in self.seeds.split(",")]


def test_fields_become_flags_of_their_type():
    parsed = parse_options(Example, ["p", "--count", "2", "--ratio", "0.25", "--where", "out", "--fast",
                                     "--no-progress", "--seeds", "3,4", "--pattern", "x*", "--pattern", "y*",
                                     "--mode", "b", "--secret", "s"], prog="t")
    assert parsed == Example(path="p", count=2, ratio=0.25, where=Path("out"), fast=True, progress=False,
                             seeds=[3, 4], pattern=["x*", "y*"], mode="b", secret="s")
    assert parse_options(Example, ["p", "--count=7", "--ratio=1"], prog="t") == Example(path="p", count=7, ratio=1.0)
    assert parse_options(Example, ["p", "--count", "1", "--seeds", "5"], prog="t").seeds == [5]   # parsed by the class


def test_both_spellings_and_help_shows_defaults(capsys):
    parser = argparse.ArgumentParser(prog="t")
    add_dataclass_flags(parser, Example)
    for spelling in ("--runs-root", "--runs_root"):
        assert parser.parse_args(["p", "--count", "1", spelling, "r"]).runs_root == "r"
    assert parser.parse_args(["p", "--count", "1", "--ratio", "2"]).ratio == 2.0
    assert parser.parse_args(["p", "--count", "1", "--seeds", "9"]).seeds == "9"   # the class parses the text
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a float (default: 0.5)" in text and "(default: 0,1)" in text and "--secret" not in text
    assert "--internal" not in text and "--no-progress" in text


@pytest.mark.bad_input
@pytest.mark.parametrize("argv, message", [
    (["p"], "the following arguments are required: --count"),
    (["p", "--count", "two"], "argument --count: invalid int value: 'two'"),
    (["p", "--count", "1", "--mode", "c"], "argument --mode: invalid choice: 'c'"),
])
def test_bad_flags_are_one_line_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        parse_options(Example, argv, prog="t")
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and message in err[-1] and err[-1].startswith("t: error:")


@pytest.mark.bad_input
@pytest.mark.parametrize("argv, message", [
    (["eval", "--benchmark", "builtin-test-id", "--k", "0"], "probscope eval: error: k=0: must be an integer >= 1"),
    (["eval", "--benchmark", "builtin-test-id", "--top-p", "1.5"], "top_p=1.5: must be a number in (0, 1]"),
    (["eval", "--benchmark", "builtin-test-id", "--batch-size", "0"], "batch_size=0: must be an integer >= 1"),
    (["eval", "--benchmark", "builtin-test-id", "--limit", "0"], "limit=0: must be an integer >= 1"),
    (["eval", "--benchmark", "builtin-test-id", "--steps", "1,x"], "--steps: '1,x' is not comma-separated step"),
])
def test_a_config_class_checks_its_flags(capsys, tmp_path, argv, message):
    """The checks are the library dataclasses' own (SamplingSettings, EvalOptions), reached before any work."""
    assert cli_main([*argv, "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_every_flag_default_is_its_fields_default():
    """No command restates a default: what argparse fills in is the dataclass field's default."""
    load_commands()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, cmd in COMMANDS.items():
        defaults = {a.dest: a.default for a in sub.choices[name]._actions}
        for flags in cmd.options:
            for f in flags.fields():
                if f.default is not dataclasses.MISSING:
                    assert defaults[f.name] == f.default, (name, f.name)
                elif f.default_factory is not dataclasses.MISSING:
                    assert defaults[f.name] == f.default_factory(), (name, f.name)


def test_eval_reads_the_sampling_and_engine_settings_classes():
    from probscope.evaluate.engine import EvalOptions
    from probscope.evaluate.generation import SamplingSettings

    load_commands()
    cmd = COMMANDS.get("eval")
    args = build_parser().parse_args(["eval", "--benchmark", "b", "--k", "4", "--seed", "3", "--threads", "2"])
    target, sampling, options = (flags.build(args) for flags in cmd.options)
    assert [f.config for f in cmd.options][1:] == [SamplingSettings, EvalOptions]
    assert sampling == SamplingSettings(k=4) and options == EvalOptions(seed=3, threads=2)
    assert target.benchmark == "b" and target.max_new_tokens is None


def test_train_takes_the_rest_of_the_command_line(monkeypatch):
    """train's keys are the recipe parser's (HfArgumentParser): the command gets them untouched."""
    load_commands()
    seen: list[list[str]] = []
    cmd = COMMANDS.get("train")
    monkeypatch.setitem(COMMANDS._entries, "train", dataclasses.replace(cmd, run=seen.append))
    assert cli_main(["train", "recipe.yaml", "--max_steps", "3"]) == 0
    assert seen == [["recipe.yaml", "--max_steps", "3"]]
    with pytest.raises(SystemExit):   # any other command refuses what it does not know
        cli_main(["check", "runs", "--max_steps", "3"])


def test_excluded_and_non_flag_fields_are_left_to_their_defaults():
    flags = Flags(Example, exclude=("ratio",))
    assert [f.name for f in flags.fields()] == [f.name for f in dataclasses.fields(Example)
                                                if f.name not in ("ratio", "internal")]
    parser = argparse.ArgumentParser(prog="t")
    add_dataclass_flags(parser, Example, exclude=("ratio",))
    assert flags.build(parser.parse_args(["p", "--count", "1"])) == Example(path="p", count=1)
    with pytest.raises(SystemExit):
        parser.parse_args(["p", "--count", "1", "--ratio", "2"])
