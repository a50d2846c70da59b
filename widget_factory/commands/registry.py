"""Every subcommand of ``widget-factory``: each ``*_command.py`` module in this folder
defines ``register(command)`` and an ``ORDER`` (its place in ``--help``)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable

import widget_factory.commands as package

__all__ = ["registrations"]

Registration = Callable[[Callable[..., argparse.ArgumentParser]], None]


def registrations() -> list[Registration]:
    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.endswith("_command")
    ]
    modules.sort(key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
    return [m.register for m in modules]
