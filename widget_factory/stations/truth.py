"""The assembly stations' part of the answer key: their starvations on ``factory-ground-truth``.

Which starvations count (only those begun before the run's cutoff, ends capped there) is
:class:`~widget_factory.core.ground_truth.StarvationTruth`; this module sends what it
decides through the service's own producer, so the records flush with its output.
"""

from __future__ import annotations

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import StepResult
from widget_factory.core.ground_truth import StarvationTruth
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.truth_publisher import TruthPublisher

__all__ = ["StarvationAnswers"]


class StarvationAnswers:
    """Publishes the starvation records of one assembly process's stations."""

    def __init__(self, config: FactoryConfig, planner: AssemblyPlanner, producer: EventProducer):
        self._truth = StarvationTruth(config)
        self._planner = planner
        self._publisher = TruthPublisher(producer)

    def step(self, result: StepResult) -> None:
        """The begin and end records of one planner step's starvations."""
        if result.starvations or result.starvation_ends:
            self._publisher.publish(self._truth.from_step(result, self._planner.cutoff))

    def close(self, now: float) -> None:
        """At a stop: end records for the starvations still going (``open_at_end``)."""
        planner = self._planner
        self._publisher.publish(self._truth.close(planner.open_starvations(), now, planner.cutoff))
