"""Stream analytics service: windowed factory metrics in simulated time, on ``factory-metrics``.

Only the service and its I/O live here (``service``: ``widget-factory analytics``). The
pure parts are in the core: :mod:`widget_factory.core.analytics_windows` (events in,
closed windows out) and :mod:`widget_factory.core.metric_records` (the published records).
"""
