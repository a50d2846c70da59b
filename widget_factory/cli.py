"""``widget-factory``: one entry point, one subcommand per job.

The only module that reads flags and the environment. Each flag that has an environment
fallback says so in ``--help``. Expected errors become one line on stderr and exit
status 2; ``--debug`` shows tracebacks for the unexpected ones.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from widget_factory.errors import FactoryError, UsageError

__all__ = ["main", "build_parser"]

log = logging.getLogger("widget_factory")

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34)


# --- option groups -----------------------------------------------------------------------


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kafka connection")
    group.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="Kafka brokers to use (env KAFKA_BOOTSTRAP_SERVERS; default: the embedded "
        "broker, 127.0.0.1:9092 for a single service)",
    )
    group.add_argument(
        "--kafka-config",
        metavar="FILE",
        help="librdkafka settings as key=value lines, e.g. security.protocol, sasl.*, ssl.* "
        "(env KAFKA_CONFIG; KAFKA_SASL_MECHANISM=PLAIN style variables work too)",
    )
    group.add_argument(
        "-X",
        dest="kafka_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one librdkafka setting, e.g. -X security.protocol=SASL_SSL (repeatable)",
    )


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("WIDGET_FACTORY_CONFIG"),
        help="factory layout (TOML) to use instead of the shipped reference factory "
        "(env WIDGET_FACTORY_CONFIG)",
    )


def _simulation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("simulation")
    group.add_argument(
        "--speed",
        metavar="N",
        help="simulated seconds per wall second, or 'max' to run as fast as possible "
        "(default: the config's simulation.speed, 120)",
    )
    group.add_argument("--seed", type=int, metavar="N", help="make generation reproducible")
    group.add_argument(
        "--duration",
        metavar="D",
        help="stop after this much simulated time: 3600, 90s, 30m, 8h, 1d (default: run until Ctrl-C)",
    )


def _common(parser: argparse.ArgumentParser, *, config: bool = True) -> None:
    _connection_options(parser)
    if config:
        _config_option(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and client logs")


# --- commands ----------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Any:
    from widget_factory.kafka_io.settings import resolve_settings

    return resolve_settings(
        args.bootstrap_servers,
        os.environ,
        kafka_config_file=args.kafka_config,
        overrides=args.kafka_overrides,
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="widget-factory",
        formatter_class=_Formatter,
        description=(
            "A manufacturing data pipeline on Kafka: machines produce components, stations\n"
            "assemble widgets by recipe, quality control inspects them, machines stream\n"
            "telemetry, and an inventory ledger tracks stock.\n\n"
            "Start with `widget-factory run` (embedded broker, every service, live output)."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, formatter_class=_Formatter
        )
        sub.set_defaults(handler=handler)
        return sub

    for register in _extensions():
        register(command)
    return parser


def _extensions() -> list[Callable[[Callable[..., argparse.ArgumentParser]], None]]:
    """Subcommands defined next to the code they run (services, tools)."""
    from widget_factory.commands import registry

    return registry.registrations()


# re-exported for command modules, so flag definitions stay in one place
common_options = _common
simulation_options = _simulation_options
settings_from_args = _settings
positive_int = _positive_int


def _configure_logging(debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s:%(name)s:%(message)s", stream=sys.stderr)
    logging.getLogger("widget_factory.librdkafka").setLevel(
        logging.DEBUG if debug else logging.CRITICAL
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False))
    _configure_logging(debug)
    try:
        return int(args.handler(args) or 0)
    except (FactoryError, UsageError) as exc:
        if debug:
            raise
        print(f"widget-factory {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
