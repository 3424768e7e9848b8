"""The one way a `probscope` subcommand (and a `probscope-bench` benchmark) declares its flags: a dataclass.

A command is a function of its options, registered once under its name with the dataclasses its flags come from
(the library's own config classes where they exist, so defaults and checks are written once, in the class):

    @dataclass
    class CheckOptions:
        runs: str = field(default="runs", metadata={"help": "runs directory", "positional": True})

    @command("check", help="validate a runs directory", options=CheckOptions)
    def run_check(opts: CheckOptions) -> int: ...

`add_dataclass_flags` makes one flag per field; `main` builds each dataclass from the parsed flags (its
`__post_init__` checks them: a bad value is a one-line ProbscopeError) and calls the function with them, in the
order `options` lists them. `train` alone parses its recipe keys with transformers.HfArgumentParser, which is
dataclass-driven too (TRL's trainer configs); its command takes the rest of the command line (`takes_rest`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from probscope.registry import Registry


@dataclasses.dataclass(frozen=True)
class Flags:
    """A dataclass whose fields become flags, under a --help heading when `title` is given, less `exclude`."""

    config: type
    title: str | None = None
    exclude: tuple[str, ...] = ()

    def fields(self) -> list[dataclasses.Field]:
        return [f for f in flag_fields(self.config) if f.name not in self.exclude]

    def build(self, args: argparse.Namespace) -> Any:
        return self.config(**{f.name: getattr(args, f.name) for f in self.fields()})


@dataclasses.dataclass(frozen=True)
class Command:
    """A subcommand: `run(*options)` with one instance per entry of `options` (then the unparsed arguments
    when `takes_rest`); what it returns is the exit status (None: 0)."""

    run: Callable[..., int | None]
    options: tuple[Flags, ...]
    help: str
    description: str | None = None
    takes_rest: bool = False


COMMANDS: Registry[Command] = Registry("command")


def command(name: str, *, help: str, options: Sequence[type | Flags] = (), description: str | None = None,
            takes_rest: bool = False) -> Callable[[Callable], Callable]:
    """Decorator registering the function as the subcommand `name` (the one place its name is written)."""
    def register(run: Callable) -> Callable:
        groups = tuple(o if isinstance(o, Flags) else Flags(o) for o in options)
        COMMANDS.add(name, Command(run, groups, help, description, takes_rest))
        return run
    return register


def load_commands() -> None:
    """Import every command module of this package once (each registers itself)."""
    import probscope.cli as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "commands" and not info.name.startswith("_"):
            importlib.import_module(f"probscope.cli.{info.name}")


def add_command_parser(sub: argparse._SubParsersAction, name: str, cmd: Command) -> None:
    """The subparser of one registered command; `takes_rest` leaves --help to the command (train's recipe keys)."""
    parser = sub.add_parser(name, help=cmd.help, description=cmd.description or cmd.help,
                            add_help=not cmd.takes_rest)
    for flags in cmd.options:
        add_dataclass_flags(parser.add_argument_group(flags.title) if flags.title else parser, flags.config,
                            exclude=flags.exclude)
    parser.set_defaults(command_entry=cmd)


def run_command(cmd: Command, args: argparse.Namespace, rest: list[str]) -> int | None:
    options = [flags.build(args) for flags in cmd.options]
    return cmd.run(*options, rest) if cmd.takes_rest else cmd.run(*options)


def parse_options(config_class: type, argv: Sequence[str] | None, *, prog: str, description: str | None = None):
    """A standalone command line of one dataclass (probscope-bench's benchmarks): the instance it describes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_dataclass_flags(parser, config_class)
    return Flags(config_class).build(parser.parse_args(argv))


_FLAG_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "Path": Path}


def add_dataclass_flags(parser, config_class: type, *, exclude: Sequence[str] = ()) -> None:
    """One flag per dataclass field (those not marked "flag": False), so the flags never drift from the fields.

    A field without a default is required (and listed first); its type picks the flag's: an int or float reads
    one, a bool is a switch (present = on; --no-NAME too when it defaults on), a Path reads one, a list takes
    comma-separated text that the class parses (and checks), anything else is text. Metadata: "help",
    "choices", "metavar", "positional" (an argument without --, optional when the field has a default), "repeat"
    (the flag may be given several times, collected in a list), "hidden" (left out of --help). Defaults show in
    --help."""
    inherited = {g.name for base in config_class.__mro__[1:] if dataclasses.is_dataclass(base)
                 for g in dataclasses.fields(base)}   # ProbeConfig's own flags (--run, --model) before the options
    chosen = [f for f in flag_fields(config_class) if f.name not in exclude]
    for f in sorted(chosen, key=lambda f: (not _required(f), f.name in inherited)):
        parser.add_argument(*_names(f), **_argument(f))


def _names(f: dataclasses.Field) -> list[str]:
    if f.metadata.get("positional"):
        return [f.name]
    return list(dict.fromkeys((f"--{f.name.replace('_', '-')}", f"--{f.name}")))   # both spellings, as in recipes


def _argument(f: dataclasses.Field) -> dict[str, Any]:
    """add_argument's keywords for one field."""
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    kind = str(f.type).removesuffix(" | None")
    text = _help(f, None if _required(f) or kind == "bool" else default)
    if kind == "bool":
        action = argparse.BooleanOptionalAction if default is True else "store_true"
        return {"dest": f.name, "action": action, "default": default, "help": text}
    argument: dict[str, Any] = {"help": text, "type": _FLAG_TYPES.get(kind, str)}
    if f.metadata.get("positional"):
        if not _required(f):
            argument.update(nargs="?", default=default)
    else:
        argument.update(dest=f.name, required=_required(f), default=None if _required(f) else default)
    if f.metadata.get("repeat"):
        argument["action"] = "append"
    for key in ("choices", "metavar"):
        if key in f.metadata:
            argument[key] = f.metadata[key]
    return argument


def _help(f: dataclasses.Field, default: Any) -> str | None:
    if f.metadata.get("hidden"):
        return argparse.SUPPRESS
    text = f.metadata.get("help")
    if text and default not in (None, "", [], ()) and "default" not in text:
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        text = f"{text} (default: {shown})"
    return text.replace("%", "%%") if text else text   # argparse %-formats help ("100%" would break --help)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def flag_fields(config_class: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if f.metadata.get("flag", True)]
