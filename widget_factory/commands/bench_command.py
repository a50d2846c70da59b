"""``widget-factory bench``: the factory's speed against the broker's limit (docs/performance.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from widget_factory.errors import UsageError
from widget_factory.options import common_options, settings_from_args

ORDER = 85

__all__ = ["register"]

log = logging.getLogger("bench")


def _seconds(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _run(args: argparse.Namespace) -> int:
    from widget_factory.bench.report import print_report
    from widget_factory.bench.runner import DEFAULT_PHASES, PHASES, BenchOptions, run_bench

    phases = tuple(args.only.split(",")) if args.only else DEFAULT_PHASES
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise UsageError(
            f"--only {args.only}: unknown phase {unknown[0]!r} (known: {', '.join(PHASES)})"
        )
    settings = settings_from_args(args)
    given = settings if settings.source in ("flag", "environment") else None
    options = BenchOptions(
        seconds=args.duration,
        seed=args.seed,
        settings=given,
        reset=args.reset,
        phases=phases,
        workdir=Path(args.logs) if args.logs else None,
    )
    progress = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr))
    doc = run_bench(options, progress)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(doc, sys.stdout)
    return 0 if doc.get("audit_ok") is not False else 1


_HELP = (
    "measure raw producer, generation, pipeline, latency, a virtual day and memory in one "
    "run, each against the broker's own limit (exit 1 if an audit fails)"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("bench", _HELP, _run)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--duration",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="wall seconds of each throughput measurement and of the latency run (default 10)",
    )
    parser.add_argument("--seed", type=int, default=1, metavar="N", help="(default 1)")
    parser.add_argument(
        "--only",
        metavar="PHASES",
        help="comma-separated subset of: raw, generation, pipeline, latency, virtual_day, "
        "idle (default: all but idle, which measures the default `run` for a minute or "
        "--duration, whichever is longer)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="with --bootstrap-servers: allow deleting the factory's topics and groups there "
        "(the bench recreates them before each phase)",
    )
    parser.add_argument("--logs", metavar="DIR", help="keep the services' logs here")
    common_options(parser, config=False)
