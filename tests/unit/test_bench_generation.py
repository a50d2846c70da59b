"""The generation phase's factory: the reference factory with its machines flat out."""

from __future__ import annotations

from widget_factory.bench.generation import generation_config
from widget_factory.factory_config import default_config


def test_generation_runs_the_reference_factory_without_kanban() -> None:
    config = generation_config()
    reference = default_config()
    assert reference.kanban.enabled  # else the bench would not need to turn it off
    assert not config.kanban.enabled
    assert config.machines == reference.machines
    assert config.simulation == reference.simulation
