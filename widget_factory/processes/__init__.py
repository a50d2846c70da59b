"""Running the factory's processes: one place for every child process and its life.

- :mod:`.services`: the five services by name (what ``run``, the bench and scenarios start).
- :mod:`.service_args`: a service child's command line, written in one place.
- :mod:`.children`: starting a child that does not outlive its parent.
- :mod:`.supervisor`: ``FactoryRun``, the services as children, stopped or drained in order.
- :mod:`.in_run`: the dashboard and the analytics service alongside a ``run``.
- :mod:`.lifecycle`: what runs inside each service: its resolved options, stop and drain
  signals, log pacing.

Everything here takes typed values (frozen dataclasses, numbers) and logs; parsing flags
and printing to the terminal belong to the CLI (``widget_factory/commands/``).
"""
