"""Stream analytics: windowed factory metrics in simulated time, on ``factory-metrics``.

``engine`` is the pure core (events in, closed windows out); ``service`` wires it to
Kafka (``widget-factory analytics``); ``metrics`` defines the published records.
"""
