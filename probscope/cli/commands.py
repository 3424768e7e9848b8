"""The subcommand registry: each module of probscope/cli/ adds its parser with @COMMANDS.register(name)."""

from __future__ import annotations

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
