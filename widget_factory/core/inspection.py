"""Quality control: the inspection rules of the reference factory, pure and reproducible.

An inspection runs three tests (electrical, mechanical, visual) that pass with the
configured probabilities, draws a performance score around the widget type's minimum,
and makes a final draw under the type's standard pass rate ("the inspector's eye").
Component defects carried by the widget (``WidgetAssembled.component_defects``) lower
every one of those pass probabilities, so poor machines show up as poor quality.

Every draw comes from a ``random.Random`` seeded with the service seed and the widget's
``event_id``: inspecting the same widget again (after a crash, a rebalance) yields the
identical :class:`~widget_factory.schemas.QualityCheck`, ``event_id`` included, so
downstream consumers drop the re-emission as a duplicate.

:class:`PassRateTracker` keeps the running pass rates the service logs, and raises a
:class:`PassRateAlert` when a widget type's recent pass rate falls under its standard.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.factory_config import FactoryConfig, WidgetTypeSpec
from widget_factory.schemas import QualityCheck, QualityStatus, TestResults, WidgetAssembled

__all__ = [
    "ELECTRICAL_FAILURE",
    "MECHANICAL_DEFECT",
    "VISUAL_DEFECT",
    "PERFORMANCE_BELOW_STANDARD",
    "TEST_DEFECTS",
    "SCORE_MARGIN",
    "UnknownWidgetType",
    "QualityInspection",
    "expected_pass_rate",
    "PassRateAlert",
    "PassRateTracker",
]

ELECTRICAL_FAILURE: Final = "electrical_failure"
MECHANICAL_DEFECT: Final = "mechanical_defect"
VISUAL_DEFECT: Final = "visual_defect"
PERFORMANCE_BELOW_STANDARD: Final = "performance_below_standard"

TEST_DEFECTS: Final = (ELECTRICAL_FAILURE, MECHANICAL_DEFECT, VISUAL_DEFECT)
"""The defects the three tests report; one of them is also what an inspector "finds"
when every test passed but the final draw under the type's pass rate failed."""

SCORE_MARGIN: Final = 5.0
"""Performance scores are drawn around the type's ``min_performance`` plus this (points)."""


class UnknownWidgetType(ValueError):
    """A widget whose type the factory configuration does not know: there is no standard
    to inspect it against. The message names the type and the known ones."""

    def __init__(self, widget_type: str, known: list[str]) -> None:
        super().__init__(
            f"unknown widget type {widget_type!r}: no quality standard for it "
            f"(known: {', '.join(sorted(known))})"
        )
        self.widget_type = widget_type


def _format_points(value: float) -> str:
    """``75`` for 75.0, ``72.5`` for 72.5: minimums read like the config file."""
    return f"{value:g}"


class QualityInspection:
    """The inspection rules of one factory configuration under one seed.

    ``seed`` makes a run reproducible; ``None`` is a seed like any other here (the
    string ``"None"``), because a re-inspection must give the same verdict even in an
    unseeded run.
    """

    def __init__(self, config: FactoryConfig, seed: int | None) -> None:
        self.config = config
        self.seed = seed
        quality = config.quality
        self._electrical = quality.electrical_pass
        self._mechanical = quality.mechanical_pass
        self._visual = quality.visual_pass
        self._sd = quality.performance_sd
        self._keep = 1.0 - quality.defect_penalty
        self._inspection_s = config.simulation.inspection_s

    def _rng(self, widget: WidgetAssembled) -> random.Random:
        return random.Random(f"{self.seed}:{widget.event_id}")

    def _standard(self, widget_type: str) -> WidgetTypeSpec:
        spec = self.config.widget_types.get(widget_type)
        if spec is None:
            raise UnknownWidgetType(widget_type, list(self.config.widget_types))
        return spec

    def inspection_seconds(self, widget: WidgetAssembled) -> float:
        """How long inspecting this widget takes, in simulated seconds: uniform over
        ``config.simulation.inspection_s``, the same every time for the same widget.

        Drawn from its own stream (the widget's seed plus ``":duration"``) so the time an
        inspection takes says nothing about its verdict.
        """
        low, high = self._inspection_s
        return random.Random(f"{self.seed}:{widget.event_id}:duration").uniform(low, high)

    def inspect(
        self, widget: WidgetAssembled, inspector_id: str, checked_at: float
    ) -> QualityCheck:
        """The quality check of ``widget`` by ``inspector_id`` at ``checked_at`` (simulated
        epoch seconds). Deterministic: the same widget always gets the same check.

        Raises :class:`UnknownWidgetType` for a type the configuration does not know.
        """
        spec = self._standard(widget.widget_type)
        rng = self._rng(widget)
        check_id = f"QC_{rng.getrandbits(32):08X}"
        # Each component defect multiplies every pass probability by (1 - defect_penalty).
        odds = self._keep**widget.component_defects
        electrical = rng.random() < self._electrical * odds
        mechanical = rng.random() < self._mechanical * odds
        visual = rng.random() < self._visual * odds
        raw = rng.gauss(spec.min_performance + SCORE_MARGIN, self._sd)
        score = round(min(100.0, max(0.0, raw)), 1)
        approved = rng.random() < spec.pass_rate * odds

        defects: list[str] = []
        notes: list[str] = []
        if not electrical:
            defects.append(ELECTRICAL_FAILURE)
            notes.append("electrical test failed")
        if not mechanical:
            defects.append(MECHANICAL_DEFECT)
            notes.append("mechanical test failed")
        if not visual:
            defects.append(VISUAL_DEFECT)
            notes.append("visual inspection failed")
        minimum = _format_points(spec.min_performance)
        if score < spec.min_performance:
            defects.append(PERFORMANCE_BELOW_STANDARD)
            notes.append(f"score {score} below {minimum}")
        if not defects and not approved:
            found = rng.choice(TEST_DEFECTS)
            defects.append(found)
            notes.append(f"all tests passed (score {score}) but the inspector found {found}")
        if not notes:
            notes.append(f"all tests passed, score {score} (minimum {minimum})")

        return QualityCheck(
            event_id=event_id_from("quality_check", widget.event_id),
            check_id=check_id,
            widget_id=widget.widget_id,
            widget_type=widget.widget_type,
            inspector_id=inspector_id,
            checked_at=to_datetime(checked_at),
            status=QualityStatus.FAIL if defects else QualityStatus.PASS,
            test_results=TestResults(
                electrical_test=electrical,
                mechanical_test=mechanical,
                visual_inspection=visual,
                performance_score=score,
            ),
            defects_found=defects,
            notes="; ".join(notes),
        )


def expected_pass_rate(
    config: FactoryConfig, widget_type: str, component_defects: int = 0
) -> float:
    """The long-run fraction (0..1) of ``widget_type`` widgets with ``component_defects``
    that pass under these rules: all three tests, the score, and the final draw.

    Far below the type's ``pass_rate`` (about 0.63 for the reference basic widget against
    its 0.95), because ``pass_rate`` is only the last of five hurdles; a service that
    wants its pass-rate alert to mean "worse than this factory normally is" passes these
    as :class:`PassRateTracker`'s ``standards``.
    """
    spec = config.widget_types.get(widget_type)
    if spec is None:
        raise UnknownWidgetType(widget_type, list(config.widget_types))
    quality = config.quality
    odds = (1.0 - quality.defect_penalty) ** component_defects
    tests = quality.electrical_pass * quality.mechanical_pass * quality.visual_pass * odds**3
    # Published scores are rounded to 0.1, so a raw score from minimum - 0.05 meets it.
    threshold = spec.min_performance - 0.05
    mean = spec.min_performance + SCORE_MARGIN
    if quality.performance_sd > 0:
        score = 1.0 - NormalDist(mean, quality.performance_sd).cdf(threshold)
    else:
        score = 1.0 if min(100.0, max(0.0, mean)) >= threshold else 0.0
    return tests * score * spec.pass_rate * odds


@dataclass(frozen=True, slots=True)
class PassRateAlert:
    """A widget type's pass rate over its last ``window`` checks fell under ``standard``
    (both rates are fractions 0..1)."""

    widget_type: str
    pass_rate: float
    standard: float
    window: int

    @property
    def message(self) -> str:
        """One line for the log and the alert topic."""
        return (
            f"{self.widget_type} pass rate {self.pass_rate:.0%} over the last {self.window} "
            f"checks is below its standard of {self.standard:.0%}"
        )


class PassRateTracker:
    """Running pass rates per widget type, and an alert when a type's recent rate drops.

    The alert compares the last ``config.simulation.pass_rate_window`` checks of a type
    with that type's ``pass_rate``; it fires once when the rate falls under, and is
    re-armed only when a full window is back at or above the standard, so a bad spell
    raises one alert rather than one per check. Types without a standard are counted but
    never alerted on.

    ``standards`` (widget_type -> fraction 0..1) replaces the configured ``pass_rate``s,
    e.g. with :func:`expected_pass_rate`: against the configured ones, the reference
    factory's normal pass rate (~0.6) is always "under standard".
    """

    def __init__(self, config: FactoryConfig, standards: Mapping[str, float] | None = None) -> None:
        self.window = config.simulation.pass_rate_window
        if standards is None:
            standards = {name: spec.pass_rate for name, spec in config.widget_types.items()}
        self._standards = dict(standards)
        self._recent: dict[str, deque[bool]] = {}
        self._recent_passed: dict[str, int] = {}
        self._alerting: set[str] = set()
        self._totals: dict[str, list[int]] = {}
        self.total = 0
        """Checks recorded, all types."""
        self.passed = 0
        """Of which passed."""

    def record(self, check: QualityCheck) -> PassRateAlert | None:
        """Counts the check; returns an alert when a widget type's pass rate over its last
        ``window`` checks falls under its standard ``pass_rate`` (only once the window is
        full), and not again until it has recovered to >= standard."""
        ok = check.status == QualityStatus.PASS
        widget_type = check.widget_type
        self.total += 1
        self.passed += ok
        totals = self._totals.get(widget_type)
        if totals is None:
            totals = self._totals[widget_type] = [0, 0]
        totals[0] += ok
        totals[1] += 1

        standard = self._standards.get(widget_type)
        if standard is None:
            return None
        recent = self._recent.get(widget_type)
        if recent is None:
            recent = self._recent[widget_type] = deque(maxlen=self.window)
            self._recent_passed[widget_type] = 0
        if len(recent) == self.window:
            self._recent_passed[widget_type] -= recent[0]
        recent.append(ok)
        self._recent_passed[widget_type] += ok
        if len(recent) < self.window:
            return None
        rate = self._recent_passed[widget_type] / self.window
        if rate >= standard:
            self._alerting.discard(widget_type)
            return None
        if widget_type in self._alerting:
            return None
        self._alerting.add(widget_type)
        return PassRateAlert(widget_type, rate, standard, self.window)

    def summary(self) -> dict[str, tuple[int, int]]:
        """widget_type -> (passed, total) over every check recorded."""
        return {name: (counts[0], counts[1]) for name, counts in self._totals.items()}

    @property
    def pass_rate(self) -> float:
        """Overall fraction passed (0.0 before any check)."""
        return self.passed / self.total if self.total else 0.0
