"""Every subcommand of ``widget-factory``, in the order ``--help`` lists them."""

from __future__ import annotations

from widget_factory.commands import (
    audit_command,
    broker_command,
    run_command,
    services_command,
    setup_command,
)

__all__ = ["REGISTRATIONS"]

REGISTRATIONS = [
    run_command.register,
    broker_command.register,
    setup_command.register,
    services_command.register,
    audit_command.register,
]
