"""The project's exception root: the CLI turns these into one line and exit status 2."""

from __future__ import annotations

__all__ = ["FactoryError", "ConfigError", "BrokerUnavailable", "BrokerLaunchError", "UsageError"]


class FactoryError(Exception):
    """An expected failure with a message fit for the user; no traceback needed."""

    exit_status = 2
    """The CLI's exit status for it (a replaced cluster has its own, see cluster_identity)."""


class ConfigError(FactoryError):
    """A factory configuration or setting that cannot be used; the message names the field."""


class UsageError(FactoryError):
    """A command-line value that cannot be used (unknown widget type, absurd quantity, ...)."""


class BrokerUnavailable(FactoryError):
    """No Kafka broker answered at the configured address within the time allowed."""


class BrokerLaunchError(FactoryError):
    """The embedded broker could not be started (binary missing, port taken, ...)."""
