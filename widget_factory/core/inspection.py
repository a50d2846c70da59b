"""Quality control: the inspection rules of the reference factory, pure and reproducible.

A widget type's ``pass_rate`` is its first-pass yield on a healthy line, and the rules
are built to hit it. A widget can fail for two kinds of reasons, drawn independently:

- *its components*: each carries a risk of spoiling the widget, ``quality.defect_risk``
  per defect it had when made, plus ``quality.degraded_risk`` when it was made in the
  settling-in cycles after its machine's repair (``made_while_degraded``). Such a failure
  is traced to that component and its machine (``QualityCheck.traced_to``) and shows up
  as one of the component type's ``fails_as`` defects;
- *assembly itself*: a residual chance sized so that widgets of components from healthy
  machines (defect counts 0/1/2/3 at 80/15/4/1 %) pass at exactly ``pass_rate`` on
  average; its defect is drawn from ``quality.defect_mix``.

The test results agree with the defects: the electrical test fails exactly when
``electrical_failure`` is found (mechanical and visual alike), and the performance score
is under the type's minimum exactly when ``performance_below_standard`` is. Passing
scores are drawn around ``min_performance + 5`` and never fall under the minimum.

Every draw comes from a ``random.Random`` seeded with the service seed and the widget's
``event_id``: inspecting the same widget again (after a crash, a rebalance) yields the
identical :class:`~widget_factory.schemas.QualityCheck`, ``event_id`` included, so
downstream consumers drop the re-emission as a duplicate.

:class:`PassRateTracker` keeps the running pass rates the service logs, and raises a
:class:`PassRateAlert` when a widget type's recent pass rate falls under its standard.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.core.part_defects import HEALTHY_DEFECT_WEIGHTS
from widget_factory.factory_config import FactoryConfig, WidgetTypeSpec
from widget_factory.schemas import (
    QualityCheck,
    QualityStatus,
    TestResults,
    TracedTo,
    WidgetAssembled,
)

__all__ = [
    "ELECTRICAL_FAILURE",
    "MECHANICAL_DEFECT",
    "VISUAL_DEFECT",
    "PERFORMANCE_BELOW_STANDARD",
    "TEST_DEFECTS",
    "SCORE_MARGIN",
    "Flaw",
    "UnknownWidgetType",
    "QualityInspection",
    "component_risk",
    "assembly_pass_chance",
    "expected_pass_rate",
    "widget_flaws",
    "PassRateAlert",
    "PassRateTracker",
]

ELECTRICAL_FAILURE: Final = "electrical_failure"
MECHANICAL_DEFECT: Final = "mechanical_defect"
VISUAL_DEFECT: Final = "visual_defect"
PERFORMANCE_BELOW_STANDARD: Final = "performance_below_standard"

TEST_DEFECTS: Final = {
    ELECTRICAL_FAILURE: "electrical test failed",
    MECHANICAL_DEFECT: "mechanical test failed",
    VISUAL_DEFECT: "visual inspection failed",
}
"""The defects that fail one of the three tests, and the note each leaves."""

SCORE_MARGIN: Final = 5.0
"""Passing performance scores are drawn around the type's ``min_performance`` plus this."""

_SCORE_TRIES: Final = 20
"""Draws for a passing score in range before settling on the nearest bound."""


@dataclass(frozen=True, slots=True)
class Flaw:
    """A component that may spoil its widget: ``defects`` it had when made, and whether
    it was made while its machine was degraded. Ids are None when the widget record does
    not say which component it was (only a defect total)."""

    component_id: str | None
    machine_id: str | None
    component_type: str | None
    defects: int
    degraded: bool = False


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


def _standard(config: FactoryConfig, widget_type: str) -> WidgetTypeSpec:
    spec = config.widget_types.get(widget_type)
    if spec is None:
        raise UnknownWidgetType(widget_type, list(config.widget_types))
    return spec


def component_risk(config: FactoryConfig, defects: int, degraded: bool = False) -> float:
    """The chance (0..1) that one component with ``defects`` spoils its widget."""
    quality = config.quality
    return min(1.0, quality.defect_risk * defects + (quality.degraded_risk if degraded else 0.0))


def assembly_pass_chance(config: FactoryConfig, widget_type: str) -> float:
    """The chance that assembly itself does not spoil a ``widget_type`` widget: its
    ``pass_rate`` over the chance that components from healthy machines all come through,
    so that a healthy line passes ``pass_rate`` of its widgets. Capped at 1: a standard
    above what healthy components allow is met as closely as they allow."""
    spec = _standard(config, widget_type)
    sound = sum(
        weight * (1.0 - component_risk(config, defects))
        for defects, weight in enumerate(HEALTHY_DEFECT_WEIGHTS)
    )
    healthy = sound ** len(spec.recipe)
    return min(1.0, spec.pass_rate / healthy) if healthy > 0 else 1.0


def expected_pass_rate(
    config: FactoryConfig,
    widget_type: str,
    flaws: Sequence[tuple[int, bool]] | None = None,
) -> float:
    """The long-run fraction (0..1) of ``widget_type`` widgets that pass.

    With ``flaws`` None: over a healthy line, i.e. the type's ``pass_rate`` (less when
    healthy components alone fail more often than the standard allows). With ``flaws``
    as (defect count, made while degraded) of the widget's flawed components: for such
    widgets (the other components clean).
    """
    base = assembly_pass_chance(config, widget_type)
    if flaws is None:
        sound = sum(
            weight * (1.0 - component_risk(config, defects))
            for defects, weight in enumerate(HEALTHY_DEFECT_WEIGHTS)
        )
        return base * sound ** len(config.widget_types[widget_type].recipe)
    return base * math.prod(1.0 - component_risk(config, d, bad) for d, bad in flaws)


def widget_flaws(widget: WidgetAssembled) -> list[Flaw]:
    """The widget's flawed components, from ``component_flaws``; a widget that only
    carries a ``component_defects`` total (older records) gets one anonymous flaw."""
    if widget.component_flaws:
        return [
            Flaw(
                f.component_id,
                f.machine_id,
                _component_type(f.component_id),
                f.defect_count,
                f.made_while_degraded,
            )
            for f in widget.component_flaws
        ]
    if widget.component_defects:
        return [Flaw(None, None, None, widget.component_defects)]
    return []


def _component_type(component_id: str) -> str:
    """``COMP_METAL_FRAME_a1b2c3d4`` -> ``metal_frame``."""
    return component_id[5:-9].lower()


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
        self._sd = quality.performance_sd
        self._inspection_s = config.simulation.inspection_s
        self._mix = list(quality.defect_mix)
        self._mix_weights = [quality.defect_mix[d] for d in self._mix]
        self._fails_as = {
            name: list(spec.fails_as) for name, spec in config.component_types.items()
        }
        self._base = {name: assembly_pass_chance(config, name) for name in config.widget_types}

    def _rng(self, widget: WidgetAssembled) -> random.Random:
        return random.Random(f"{self.seed}:{widget.event_id}")

    def inspection_seconds(self, widget: WidgetAssembled) -> float:
        """How long inspecting this widget takes, in simulated seconds: uniform over
        ``config.simulation.inspection_s``, the same every time for the same widget.

        Drawn from its own stream (the widget's seed plus ``":duration"``) so the time an
        inspection takes says nothing about its verdict.
        """
        low, high = self._inspection_s
        return random.Random(f"{self.seed}:{widget.event_id}:duration").uniform(low, high)

    def _draw_defect(self, rng: random.Random, component_type: str | None, low_ok: bool) -> str:
        """A defect from the component type's ``fails_as`` (else the whole mix), in the
        mix's proportions; never a low score when the minimum is 0 (none can be lower)."""
        names = self._fails_as.get(component_type or "") or self._mix
        if not low_ok:
            names = [n for n in names if n != PERFORMANCE_BELOW_STANDARD] or [
                n for n in self._mix if n != PERFORMANCE_BELOW_STANDARD
            ]
            if not names:
                return VISUAL_DEFECT
        weights = [self.config.quality.defect_mix.get(n, 1.0) for n in names]
        return rng.choices(names, weights)[0]

    def inspect(
        self, widget: WidgetAssembled, inspector_id: str, checked_at: float
    ) -> QualityCheck:
        """The quality check of ``widget`` by ``inspector_id`` at ``checked_at`` (simulated
        epoch seconds). Deterministic: the same widget always gets the same check.

        Raises :class:`UnknownWidgetType` for a type the configuration does not know.
        """
        spec = _standard(self.config, widget.widget_type)
        rng = self._rng(widget)
        check_id = f"QC_{rng.getrandbits(32):08X}"
        low_ok = spec.min_performance > 0
        defects: list[str] = []
        traced: TracedTo | None = None
        worst = 0.0
        if rng.random() >= self._base[widget.widget_type]:
            defects.append(self._draw_defect(rng, None, low_ok))
        for flaw in widget_flaws(widget):
            risk = component_risk(self.config, flaw.defects, flaw.degraded)
            if risk <= 0.0 or rng.random() >= risk:
                continue
            found = self._draw_defect(rng, flaw.component_type, low_ok)
            if found not in defects:
                defects.append(found)
            if risk > worst:
                worst = risk
                traced = TracedTo(flaw.component_id, flaw.machine_id, _reason(flaw))

        minimum = _format_points(spec.min_performance)
        score = self._score(rng, spec.min_performance, PERFORMANCE_BELOW_STANDARD in defects)
        notes: list[str] = []
        for defect in defects:
            if defect in TEST_DEFECTS:
                notes.append(TEST_DEFECTS[defect])
            elif defect == PERFORMANCE_BELOW_STANDARD:
                notes.append(f"score {score} below {minimum}")
            else:
                notes.append(f"{defect} found")
        if traced is not None:
            source = traced.component_id or "a component"
            machine = f" of {traced.machine_id}" if traced.machine_id else ""
            notes.append(f"traced to {source}{machine} ({traced.reason})")
        if not defects:
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
                electrical_test=ELECTRICAL_FAILURE not in defects,
                mechanical_test=MECHANICAL_DEFECT not in defects,
                visual_inspection=VISUAL_DEFECT not in defects,
                performance_score=score,
            ),
            defects_found=defects,
            notes="; ".join(notes),
            traced_to=traced,
        )

    def _score(self, rng: random.Random, minimum: float, low: bool) -> float:
        """A performance score (0..100, to 0.1): under ``minimum`` when ``low``, else at
        or above it (a normal draw around ``minimum + SCORE_MARGIN`` cut to the range)."""
        if low:
            raw = minimum - 0.1 - abs(rng.gauss(0.0, self._sd / 2))
            score = round(max(0.0, raw), 1)
            return score if score < minimum else max(0.0, math.floor(minimum * 10 - 1) / 10)
        raw = minimum + SCORE_MARGIN
        for _ in range(_SCORE_TRIES):  # a normal draw cut to [minimum, 100]
            raw = rng.gauss(minimum + SCORE_MARGIN, self._sd)
            if minimum <= raw <= 100.0:
                break
        score = round(min(100.0, max(minimum, raw)), 1)
        return score if score >= minimum else min(100.0, math.ceil(minimum * 10) / 10)


def _reason(flaw: Flaw) -> str:
    plural = "s" if flaw.defects != 1 else ""
    found = f"{flaw.defects} component defect{plural}"
    if flaw.degraded:
        repair = "made right after a machine repair"
        return f"{repair}, {found}" if flaw.defects else repair
    return found


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
    e.g. with each standard less a margin: a healthy line passes *at* its standard, so
    half of its windows fall a little under it by chance alone.
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
