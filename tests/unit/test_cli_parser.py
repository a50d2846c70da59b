"""The command line builds only the subcommand it runs when it can find its module, and
that parser knows the subcommand exactly as the full one does."""

from __future__ import annotations

import argparse

from widget_factory.cli import build_parser
from widget_factory.commands import registry


def _names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def test_every_subcommand_parses_with_its_own_parser() -> None:
    everything = _names(build_parser())
    assert {"groups", "lag", "monitor", "run", "assembly", "order"} <= everything
    for name in everything:
        own = _names(build_parser(name))
        assert name in own
        home = registry.home_of(name)
        if home is not None:
            assert len(own) < len(everything), f"{name}: {home} should define it"


def test_tools_are_found_without_every_module() -> None:
    for name in ("groups", "lag", "monitor", "assembly", "anomaly"):
        assert registry.home_of(name) is not None
        assert _names(build_parser(name)) < _names(build_parser())


def test_help_and_unknown_names_get_the_whole_parser() -> None:
    everything = _names(build_parser())
    assert _names(build_parser("--help")) == everything
    assert _names(build_parser("no-such-command")) == everything
