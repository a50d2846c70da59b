"""Kept so that older imports work: the service lifecycle lives in
:mod:`widget_factory.processes.lifecycle`; import it from there."""

from widget_factory.processes.lifecycle import Lifecycle, LogPacer, ServiceOptions, describe_speed

__all__ = ["ServiceOptions", "Lifecycle", "LogPacer", "describe_speed"]
