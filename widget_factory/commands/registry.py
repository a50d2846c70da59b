"""Every subcommand of ``widget-factory``, in the order ``--help`` lists them."""

from __future__ import annotations

from widget_factory.commands import broker_command, setup_command

__all__ = ["REGISTRATIONS"]

REGISTRATIONS = [
    broker_command.register,
    setup_command.register,
]
