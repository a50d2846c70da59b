"""A service child's command line (``widget-factory NAME ...``), written in one place.

The parent resolves every value once (speed, seed, start, ...) and hands it over here as
a value; :func:`common_service_args` writes the flags each child reads back with its own
parser (``widget_factory/options.py``). :func:`service_layout` says which children a
run has and which of the stations or inspectors each one hosts.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["speed_arg", "common_service_args", "service_layout", "deal", "TELEMETRY_WAIT"]

TELEMETRY_WAIT = ["--telemetry-wait", "120"]
"""Components beside a telemetry service of the same run: wait for its first reports
(it may start seconds later on a busy machine), since it decides status from the start."""


def speed_arg(speed: float | None) -> str:
    """The one form in which a child gets its speed: the value of ``--speed``.

    ``max`` for as fast as possible (virtual time, ``speed`` None); otherwise the exact
    ``repr`` of the float (simulated seconds per wall second), which
    :func:`widget_factory.options.parse_speed` reads back to the same float."""
    return "max" if speed is None else repr(float(speed))


def common_service_args(
    *,
    bootstrap: str,
    speed: float | None,
    seed: int | None,
    duration: str | None,
    start: float,
    anchor_wall: float,
    config: str | None,
    kafka_config: str | None,
    overrides: Sequence[str],
    debug: bool,
    late_fraction: float = 0.0,
    max_delay_s: float = 0.0,
) -> list[str]:
    """The flags every service of a run shares: the cluster, ``--speed`` (see
    :func:`speed_arg`), ``--seed N``, the duration as the user wrote it (``8h``, ``90s``),
    the shared simulated start and the wall time it is anchored at (``repr`` of each
    float), the config, client settings and ``--debug``; late delivery
    (``--late-fraction``, ``--max-delay`` in seconds) when asked for, to every service:
    the producers send late, the consumers hold their watermarks back."""
    args = [
        "--bootstrap-servers",
        bootstrap,
        "--speed",
        speed_arg(speed),
        "--start",
        repr(start),
        "--anchor-wall",
        repr(anchor_wall),
    ]
    if seed is not None:
        args += ["--seed", str(seed)]
    if duration:
        args += ["--duration", duration]
    if config:
        args += ["--config", config]
    if kafka_config:
        args += ["--kafka-config", kafka_config]
    for override in overrides:
        args += ["-X", override]
    if debug:
        args.append("--debug")
    if late_fraction > 0:
        args += ["--late-fraction", repr(float(late_fraction))]
    if max_delay_s > 0:
        args += ["--max-delay", repr(float(max_delay_s))]
    return args


def deal(items: Sequence[str], hands: int) -> list[list[str]]:
    """``items`` dealt round-robin into ``hands`` non-empty lists (in order)."""
    return [list(items[i::hands]) for i in range(hands)]


def service_layout(
    services: Sequence[str],
    shared: Sequence[str],
    *,
    stations: Sequence[str] = (),
    station_processes: int = 1,
    inspectors: Sequence[str] = (),
    inspector_processes: int = 1,
    generation_workers: int = 1,
) -> dict[str, list[str]]:
    """Per child name (``assembly#2`` for the second of several), its arguments.

    With ``station_processes`` > 1 the stations are dealt among that many assembly
    processes (``--station``, repeated), one group ``assembly-stations``; only the first
    publishes production orders. Quality control is dealt out likewise by inspector.
    One process of a kind gets no such flags: it runs every station (or inspector).

    With ``generation_workers`` > 1, component production and telemetry each run as
    that many processes (``--worker K/N``), the machines dealt between them by position.

    Quality control and inventory get no ``--duration``: in a bounded run the supervisor
    drains them once assembly has delivered its last widget, which may complete after the
    end time."""
    layout: dict[str, list[str]] = {}
    for name in services:
        if name in ("quality", "inventory"):
            shared_here = _without_duration(shared)
        else:
            shared_here = list(shared)
        if name == "assembly" and station_processes > 1:
            for index, hand in enumerate(deal(stations, station_processes), start=1):
                args = [*shared, *(a for s in hand for a in ("--station", s))]
                layout[f"assembly#{index}"] = args + (["--no-orders"] if index > 1 else [])
        elif name == "quality" and inspector_processes > 1:
            for index, hand in enumerate(deal(inspectors, inspector_processes), start=1):
                layout[f"quality#{index}"] = [
                    *shared_here,
                    *(a for i in hand for a in ("--inspector", i)),
                ]
        elif name in ("components", "telemetry") and generation_workers > 1:
            waits = [*TELEMETRY_WAIT] if name == "components" and "telemetry" in services else []
            for k in range(1, generation_workers + 1):
                layout[f"{name}#{k}"] = [
                    *shared_here,
                    *waits,
                    "--worker",
                    f"{k}/{generation_workers}",
                ]
        elif name == "components" and "telemetry" in services:
            layout[name] = [*shared_here, *TELEMETRY_WAIT]
        else:
            layout[name] = shared_here
    return layout


def _without_duration(args: Sequence[str]) -> list[str]:
    result: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--duration":
            skip = True
        else:
            result.append(arg)
    return result
