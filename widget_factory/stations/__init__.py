"""The assembly service's pieces beside its loop (``widget_assembly_simulator.py``).

``inputs``: what each component or order read becomes (a local station's stock or
order, a forward to its home station, a dead letter); ``widgets``: the widgets sent, and
sent again when a delivery fails; ``reports``: the service's log lines and starvation
alerts; ``truth``: the starvation records of the answer key; ``virtual_time``: how far
the virtual clock may go. The planner itself is pure, in
:mod:`widget_factory.core.assembly`; the links between station processes are
:mod:`widget_factory.kafka_io.station_links`.
"""
