"""The subcommand registry: each module of probscope/cli/ adds its parser with @COMMANDS.register(name)."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable

from probscope.registry import Registry

COMMANDS: Registry[Callable] = Registry("command")


def load_commands() -> None:
    """Import every command module of this package once (each registers itself)."""
    import probscope.cli as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "commands" and not info.name.startswith("_"):
            importlib.import_module(f"probscope.cli.{info.name}")


_FLAG_TYPES = {"int": int, "float": float}


def add_dataclass_flags(parser, config_class) -> None:
    """One flag per dataclass field (those not marked "flag": False), so the flags never drift from the
    fields: required (and listed first) when the field has no default, an int or float when the field is one, a switch
    when it is a bool, choices from metadata."""
    inherited = {g.name for base in config_class.__mro__[1:] if dataclasses.is_dataclass(base)
                 for g in dataclasses.fields(base)}   # ProbeConfig's own flags (--run, --model) before the options
    for f in sorted(flag_fields(config_class), key=lambda f: (not _required(f), f.name in inherited)):
        flags = dict.fromkeys((f"--{f.name.replace('_', '-')}", f"--{f.name}"))
        required = _required(f)
        # a list field's flag takes comma-separated text; the config class parses it (and checks it there)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        text = f.metadata.get("help")
        text = text.replace("%", "%%") if text else text   # argparse %-formats help ("100%" would break --help)
        if str(f.type) == "bool":   # a switch: present = on
            parser.add_argument(*flags, dest=f.name, action="store_true", help=text)
            continue
        parser.add_argument(*flags, dest=f.name, required=required, default=None if required else default,
                            type=_FLAG_TYPES.get(str(f.type).removesuffix(" | None"), str),
                            choices=f.metadata.get("choices"), help=text)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def flag_fields(config_class) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if f.metadata.get("flag", True)]
