"""The assembly stations' part of the answer key: their starvations and true OEE on
``factory-ground-truth``.

Which starvations count (only those begun before the run's cutoff, ends capped there) is
:class:`~widget_factory.core.ground_truth.StarvationTruth`; the stations' OEE per window
is :class:`~widget_factory.core.station_oee_truth.StationOeeTruthTracker`, fed the same
starvations. This module sends what they decide through the service's own producer, so
the records flush with its output. Each process publishes its own stations' records.
"""

from __future__ import annotations

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import StepResult
from widget_factory.core.ground_truth import StarvationTruth
from widget_factory.core.station_oee_truth import StationOeeTruthTracker
from widget_factory.core.station_timeline import StationTimeline, unsettled_since
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.truth_publisher import TruthPublisher

__all__ = ["StarvationAnswers"]


class StarvationAnswers:
    """Publishes the starvation records and true OEE windows of one assembly process's
    stations. ``start``: the run's; ``seed``: the run's (quality control's verdicts)."""

    def __init__(
        self,
        config: FactoryConfig,
        planner: AssemblyPlanner,
        producer: EventProducer,
        *,
        start: float,
        seed: int | None,
    ):
        self._truth = StarvationTruth(config)
        self._planner = planner
        self._publisher = TruthPublisher(producer)
        self._timeline = planner.timeline = StationTimeline(planner.stations)
        self._oee = StationOeeTruthTracker(config, list(planner.stations), start, seed)

    def resumed(self, now: float) -> None:
        """The stations were replayed from the changelog: OEE windows from ``now`` on."""
        self._oee.resume_at(now)

    def step(self, result: StepResult, now: float) -> None:
        """The begin and end records of one planner step's starvations (the planner is at
        ``now``), and the OEE of the windows that step settled."""
        planner = self._planner
        oee = self._oee
        if result.starvations or result.starvation_ends:
            records = self._truth.from_step(result, planner.cutoff)
            self._publisher.publish(records)
            oee.starvations(records)
        oee.built(result.completed)
        oee.turns(self._timeline.take())
        settled = unsettled_since(
            (s.starved_since, s.starvation_reported) for s in planner.stations.values()
        )
        windows = oee.close_until(min(now, planner.cutoff, settled))
        if windows:
            self._publisher.publish(windows)

    def close(self, now: float) -> None:
        """At a stop: end records for the starvations still going (``open_at_end``), and
        the OEE of every window that ended by then (or by the run's end)."""
        planner = self._planner
        records = self._truth.close(planner.open_starvations(), now, planner.cutoff)
        self._publisher.publish(records)
        oee = self._oee
        oee.starvations(records)
        oee.turns(self._timeline.take())
        self._publisher.publish(oee.close_until(min(now, planner.cutoff)))
