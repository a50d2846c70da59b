"""``widget-factory``: one entry point, one subcommand per job.

This module builds the parser and dispatches: each subcommand is defined next to the
code it runs (``widget_factory/commands/*_command.py``), with the flags the commands
share from ``widget_factory/options.py``. Expected errors become one line on stderr and
exit status 2; ``--debug`` shows tracebacks for the unexpected ones.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

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


def build_parser(command_name: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``command_name``) one holding just the module that defines
    that subcommand, when it can be found: starting a tool then imports only what it
    needs. Anything else (``--help``, unknown names) gets every subcommand."""
    if command_name is not None and not command_name.startswith("-"):
        from widget_factory.commands import registry

        home = registry.home_of(command_name)
        if home is not None:
            parser, names = _parser(registry.registrations(home))
            if command_name in names:
                return parser
    return _parser(_extensions())[0]


def _parser(
    registrations: Sequence[Callable[[Callable[..., argparse.ArgumentParser]], None]],
) -> tuple[argparse.ArgumentParser, set[str]]:
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
        names.add(name)
        return sub

    names: set[str] = set()
    for register in registrations:
        register(command)
    return parser, names


def _extensions() -> list[Callable[[Callable[..., argparse.ArgumentParser]], None]]:
    """Subcommands defined next to the code they run (services, tools)."""
    from widget_factory.commands import registry

    return registry.registrations()


def _configure_logging(debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s:%(name)s:%(message)s", stream=sys.stderr)
    logging.getLogger("widget_factory.librdkafka").setLevel(
        logging.DEBUG if debug else logging.CRITICAL
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
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
