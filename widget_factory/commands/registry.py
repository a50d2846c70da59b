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


_HOMES = {
    "groups": "lag_command",
    **dict.fromkeys(
        ("components", "assembly", "quality", "telemetry", "inventory"), "services_command"
    ),
    **dict.fromkeys(
        ("order", "anomaly", "stop-machine", "start-machine", "maintenance"), "control_command"
    ),
}
"""Subcommands not defined in ``<name>_command.py`` that are worth finding without
importing every module (the rest fall back to all of them)."""


def home_of(command: str) -> str | None:
    """The module that most likely defines ``command``, if there is one. A guess:
    the caller checks that the module really registered it."""
    name = _HOMES.get(command, command.replace("-", "_") + "_command")
    names = {info.name for info in pkgutil.iter_modules(package.__path__)}
    return name if name in names else None


def registrations(only: str | None = None) -> list[Registration]:
    """Every module's ``register``; with ``only`` (a module name from :func:`home_of`)
    just that one: a tool such as ``groups`` then starts without importing the web
    stack, the analytics and the rest (a third of its start-up)."""
    modules = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.endswith("_command") and (only is None or info.name == only)
    ]
    modules.sort(key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
    return [m.register for m in modules]
