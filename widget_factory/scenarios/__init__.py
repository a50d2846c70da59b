"""The walkthrough's experiments as runnable scenarios (``widget-factory scenario NAME``).

Each ``*.toml`` file here is one scenario (format: :mod:`widget_factory.core.scenario_plan`);
:mod:`widget_factory.scenarios.runner` runs it against a real factory (its worker thread in
:mod:`widget_factory.scenarios.worker`, its text in :mod:`widget_factory.scenarios.printing`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from widget_factory.core.scenario_plan import Scenario, parse_scenario
from widget_factory.errors import ConfigError, UsageError

__all__ = ["builtin_names", "load_scenario"]


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with the package."""
    folder = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_scenario(name_or_path: str) -> tuple[Scenario, Path | None]:
    """A shipped scenario by name, or a scenario file; and the folder relative paths in
    it are resolved against (None for shipped ones: package resources)."""
    if name_or_path in builtin_names():
        text = resources.files(__name__).joinpath(f"{name_or_path}.toml").read_text()
        return parse_scenario(text, f"{name_or_path}.toml"), None
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        raise UsageError(
            f"unknown scenario {name_or_path!r} (shipped: {', '.join(builtin_names())}; "
            "or give the path of a scenario .toml file)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such scenario file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse_scenario(text, str(path)), path.resolve().parent
