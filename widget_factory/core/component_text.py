"""A batch of components written straight into their records' bytes.

Production's hot loop (core/production.py) decides everything about a component that
depends on the order of events: its machine, time, draws, id, batch and defects.
What is left is arithmetic on the draws and writing text, the same for every component,
and this module does it for a whole batch at once:

- the five normals of each component come from its six uniform draws by Box-Muller,
  in numpy; a value whose rounding to two decimals (one for the temperature) lies
  within a hair of a tie, or a weight at its floor, is worked out again with ``math``,
  as the scalar code does, since numpy's ``log``, ``cos`` and ``sin`` may differ from
  ``math``'s in the last bit;
- times, event ids and numbers are written as in core/telemetry_text.py: the
  microseconds ``datetime.fromtimestamp`` rounds to, numpy's hex of the ids, and
  msgspec's own text of every number from one encoding of the batch's list;
- each record is one ``%`` of its machine's :class:`ComponentTemplate`, cut from
  msgspec's encoding of a component, so keys, order and escaping are the encoder's.

``tests/unit/test_component_batch.py`` compares every byte with the scalar path's
(core/fast_encode.py's ``made_component``) on fleets of machines and many seeds.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray

from widget_factory.core.fast_encode import ComponentWire, MadeComponent, encode_wire
from widget_factory.core.made_draft import (
    DIMENSION_SD,
    MIN_WEIGHT_G,
    TEMPERATURE_MEAN,
    TEMPERATURE_SD,
    MadeDraft,
    measured,
)
from widget_factory.core.production_machine import ProductionMachine
from widget_factory.core.telemetry_text import ReportTimes, cut_template, encoded_numbers
from widget_factory.core.uuid_text import uuid_texts
from widget_factory.schemas import SCHEMA_VERSION, Dimensions, QualityMetrics

__all__ = ["ComponentTemplate", "ComponentWriter"]

_TWO_PI: Final = 2.0 * math.pi
_TIE: Final = 1e-6
"""How near a scaled value's fraction may come to one half before the scalar code
decides its rounding (numpy's and ``math``'s last bits differ by far less)."""

_MARK_TIME: Final = datetime.fromisoformat("2001-02-03T04:05:06.000007+00:00")
_MARK_NUMBERS: Final = (111.125, 222.125, 333.125, 444.125, 55.125)
_MARK_DEFECTS: Final = 666666
_MARKS: Final = (
    b'"\\u0001"',
    b"\\u0002",
    b'"\\u0003"',
    b'"2001-02-03T04:05:06.000007Z"',
    b"111.125",
    b"222.125",
    b"333.125",
    b"444.125",
    b"55.125",
    b"666666",
)
_SLOTS: Final = (b'"%s"', b"%s", b'"%s"', b'"%s"', b"%s", b"%s", b"%s", b"%s", b"%s", b"%d")


class ComponentTemplate:
    """One machine's component record, with ``%`` slots for what varies (two texts: made
    while degraded or not)."""

    __slots__ = ("texts",)

    def __init__(self, machine: ProductionMachine) -> None:
        texts = []
        for degraded in (False, True):
            sample = encode_wire(
                ComponentWire(
                    "\x01",
                    SCHEMA_VERSION,
                    machine.id_prefix + "\x02",
                    machine.component_type,
                    machine.id,
                    "\x03",
                    _MARK_TIME,
                    QualityMetrics(
                        _MARK_NUMBERS[0],
                        Dimensions(*_MARK_NUMBERS[1:4]),
                        _MARK_NUMBERS[4],
                        _MARK_DEFECTS,
                    ),
                    machine.production_line,
                    degraded,
                )
            )
            texts.append(cut_template(sample, _MARKS, _SLOTS, f"components of {machine.id!r}"))
        self.texts = (texts[0], texts[1])


def _near_tie(scaled: np.ndarray) -> np.ndarray:
    return np.abs(scaled - np.floor(scaled) - 0.5) < _TIE


def _measures_table(machines: list[ProductionMachine]) -> NDArray[np.float64]:
    """Per machine index: weight mean and spread, nominal length, width and height (a
    row of zeros for a machine not given)."""
    table = np.zeros((1 + max(m.index for m in machines), 5))
    for m in machines:
        table[m.index] = (m.weight_mean, m.weight_sd, m.length, m.width, m.height)
    return table


def _measured_batch(draft: MadeDraft, table: NDArray[np.float64]) -> list[float]:
    """:func:`measured` of every component, five values each, one after another."""
    count = len(draft.machines)
    u = np.array(draft.uniforms).reshape(count, 6)
    machines = draft.machines
    index = np.array([m.index for m in machines])
    mean, sd, length, width, height = table[index].T
    r = np.sqrt(-2.0 * np.log(1.0 - u[:, 0]))
    a = _TWO_PI * u[:, 1]
    n_weight, n_temperature = r * np.cos(a), r * np.sin(a)
    r = np.sqrt(-2.0 * np.log(1.0 - u[:, 2]))
    a = _TWO_PI * u[:, 3]
    n_length, n_width = r * np.cos(a), r * np.sin(a)
    n_height = np.sqrt(-2.0 * np.log(1.0 - u[:, 4])) * np.cos(_TWO_PI * u[:, 5])
    weight = mean + sd * n_weight
    floor_near = np.abs(weight - MIN_WEIGHT_G) < _TIE
    weight = np.maximum(weight, MIN_WEIGHT_G)
    scaled = np.stack(
        (
            weight * 100.0,
            length * (1.0 + DIMENSION_SD * n_length) * 100.0,
            width * (1.0 + DIMENSION_SD * n_width) * 100.0,
            height * (1.0 + DIMENSION_SD * n_height) * 100.0,
            (TEMPERATURE_MEAN + TEMPERATURE_SD * n_temperature) * 10.0,
        ),
        axis=1,
    )
    values = np.rint(scaled) + 0.0  # (+ 0.0: no -0.0, which round() never gives)
    values[:, :4] /= 100.0
    values[:, 4] /= 10.0
    out: list[float] = values.ravel().tolist()
    for i in np.flatnonzero(_near_tie(scaled).any(axis=1) | floor_near).tolist():
        out[5 * i : 5 * i + 5] = measured(machines[i], draft.uniforms[6 * i : 6 * i + 6])
    return out


class ComponentWriter:
    """Writes batches of one production's components: its machines' templates and
    measures, and the times' day texts, made once."""

    def __init__(self, machines: list[ProductionMachine]) -> None:
        self._templates = {m.index: ComponentTemplate(m).texts for m in machines}
        self._table = _measures_table(machines)
        self._times = ReportTimes()

    def write(self, draft: MadeDraft) -> list[MadeComponent]:
        """The records of a batch's components (times within ``fast_encode.BATCH_TIMES``)."""
        count = len(draft.machines)
        micro = ReportTimes.microseconds(np.array(draft.times))
        stamps = ReportTimes.milliseconds(micro)
        ats: list[float] = (micro.astype(np.float64) / 1e6).tolist()
        texts = self._times.texts(micro)
        octets = np.frombuffer(
            b"".join([bits.to_bytes(16) for bits in draft.ids]), dtype=np.uint8
        ).reshape(count, 16)
        ids = uuid_texts(octets)
        numbers = encoded_numbers(_measured_batch(draft, self._table))
        templates = self._templates
        out: list[MadeComponent] = []
        append = out.append
        serials, batches = draft.serials, draft.batches
        defects, degraded = draft.defects, draft.degraded
        for i, machine in enumerate(draft.machines):
            component_id = machine.id_prefix + serials[i]
            at = 5 * i
            defect_count = defects[i]
            value = templates[machine.index][degraded[i]] % (
                ids[36 * i : 36 * i + 36],
                serials[i].encode(),
                batches[i].encode(),
                texts[i],
                *numbers[at : at + 5],
                defect_count,
            )
            append(
                MadeComponent(
                    component_id.encode(),
                    value,
                    stamps[i],
                    ats[i],
                    component_id,
                    machine.component_type,
                    machine.id,
                    defect_count,
                )
            )
        return out
