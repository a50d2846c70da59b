"""Component production: every production machine of the factory as a discrete-event generator.

Each machine makes one component per cycle. A cycle lasts a uniform draw from the
machine's ``cycle_time_s`` range times a jitter factor uniform in ``[1 - j, 1 + j]``
(``simulation.cycle_jitter``). After each component, with probability
``simulation.stoppage_probability``, the machine stops briefly for a uniform draw from
``simulation.stoppage_s`` before its next cycle starts. The first component of every
machine comes at ``start + uniform(0, one cycle)``, so output begins at once.

The machine's status is learnt from telemetry (:meth:`ComponentProduction.set_status`):
outside :data:`PRODUCING_STATUSES` it makes nothing; back in a producing status it
starts a fresh cycle. Its parts' defect counts follow its state (core/part_defects.py):
worse for a few after a repair, and worse while worn (a quality drift,
core/quality_drift.py, whose answer-key records :meth:`ComponentProduction.drain_drifts`
gives). All times are floats: simulated seconds since the Unix epoch.

Every machine draws from a ``random.Random`` of its own, seeded from the generator
given (:func:`~widget_factory.core.machine_share.machine_seeds`), and mints its own
component ids: the ids of a component type walk one scrambled counter, which the
type's machines share out (the k-th of m machines takes counter values k, k + m, ...).
So a worker making only some of the machines (a :class:`MachineShare`) makes exactly
their part of the stream one process would make, ids included, and no two workers mint
the same id. The same seed and the same calls give the same events.

Kanban (:mod:`widget_factory.core.kanban`) limits output per component type through an
allowance: units of the type that may still be made. A machine whose type has no
allowance left finishes nothing more: at its next due time it is parked (a
:class:`KanbanHold` record says when), and :meth:`ComponentProduction.allow` adds units
and restarts parked machines one fresh cycle later. Without kanban the allowance is
unlimited.

The generator is a heap of ``(due time, machine index)`` (a machine's state:
:mod:`widget_factory.core.production_machine`). Its loop decides each component in
event order (one heap replace, the machine's draws, id, batch, defects) into a
:class:`~widget_factory.core.made_draft.MadeDraft`; the records are written afterwards:
a call's worth at once when it made 64 or more (core/component_text.py: numpy for the
normals, times and ids, one template per machine), one by one otherwise
(core/fast_encode.py). Both write the same bytes; normals come by Box-Muller from the
machine's ``random`` and values are rounded by ``round(x * 100) / 100``, a quarter of
``round(x, 2)``'s cost, giving the same two-decimal numbers except for exact ties.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from widget_factory.core.fast_encode import BATCH_TIMES, MadeComponent, made_component
from widget_factory.core.ids import IdSource, uuid4_text
from widget_factory.core.kanban import KanbanHold
from widget_factory.core.machine_share import (
    WHOLE_FACTORY,
    MachineShare,
    id_sequences,
    machine_seeds,
)
from widget_factory.core.machines import UnknownMachine
from widget_factory.core.made_draft import MadeDraft, measured
from widget_factory.core.part_defects import (
    DEGRADED_CUMULATIVE,
    DEGRADED_DEFECT_WEIGHTS,
    HEALTHY_CUMULATIVE,
    HEALTHY_DEFECT_WEIGHTS,
    drift_defects,
)
from widget_factory.core.production_machine import KindAllowance, ProductionMachine
from widget_factory.core.quality_drift import drift_record
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import ComponentProduced, FaultTruth, MachineStatus

if TYPE_CHECKING:
    from widget_factory.core.component_text import ComponentWriter

__all__ = [
    "PRODUCING_STATUSES",
    "HEALTHY_DEFECT_WEIGHTS",
    "DEGRADED_DEFECT_WEIGHTS",
    "Stoppage",
    "KanbanHold",
    "ComponentProduction",
]

PRODUCING_STATUSES: Final = frozenset({MachineStatus.RUNNING, MachineStatus.IDLE})
"""Statuses in which a machine makes components; any other blocks its output."""

_DEFECT_1, _DEFECT_2, _DEFECT_3 = HEALTHY_CUMULATIVE
_DEGRADED_1, _DEGRADED_2, _DEGRADED_3 = DEGRADED_CUMULATIVE

_BATCH_FROM: Final = 64
"""Components made in one call from which their records are written together (numpy,
core/component_text.py): a paced factory makes a few per call, and never loads numpy."""

_MASK: Final = 0xFFFFFFFF
_UUID4_CLEAR: Final = 0xFFFFFFFF_FFFF_0FFF_3FFF_FFFFFFFFFFFF
_UUID4_SET: Final = 0x00000000_0000_4000_8000_000000000000


@dataclass(frozen=True)
class Stoppage:
    """A brief stoppage of a machine between ``start`` and ``end`` (simulated epoch seconds)."""

    machine_id: str
    start: float
    end: float


class ComponentProduction:
    """The production machines of ``share`` (all of them by default) as a discrete-event
    generator.

    ``produced`` counts components per machine id so far. ``rng`` seeds every machine's
    own generator and id sequence; ``ids`` is kept for the other ids a service may mint
    (component production mints none of its own beyond the machines').
    """

    def __init__(
        self,
        config: FactoryConfig,
        rng: random.Random,
        ids: IdSource,
        start: float,
        share: MachineShare = WHOLE_FACTORY,
    ) -> None:
        sim = config.simulation
        self._ids = ids
        self.share = share
        self._jitter_low = 1.0 - sim.cycle_jitter
        self._jitter_span = 2.0 * sim.cycle_jitter
        self._stoppage_p = sim.stoppage_probability
        self._stoppage_low = float(sim.stoppage_s[0])
        self._stoppage_span = float(sim.stoppage_s[1]) - self._stoppage_low
        self._batch_size = sim.batch_size
        self._degraded_after_repair = sim.degraded_after_repair
        seeds = machine_seeds(rng, len(config.machines))
        sequences = id_sequences(config, rng)
        self._kinds = {name: KindAllowance() for name in config.component_types}
        self._machines = [
            ProductionMachine(
                i, spec, config, seeds[i], sequences[i], self._kinds[spec.component_type], start
            )
            for i, spec in enumerate(config.machines)
        ]
        self._holds: list[KanbanHold] = []
        self._mine = [m for m in self._machines if share.owns(m.index)]
        self._by_id = {m.id: m for m in self._mine}
        self._stoppages: list[Stoppage] = []
        self._last = start
        """Time of the latest component produced: a resumed machine never goes behind it."""
        self._writer: ComponentWriter | None = None
        """Writes a batch's records at once (made at the first such batch)."""
        self._heap: list[tuple[float, int]] = [
            (start + m.rng.random() * self._cycle(m), m.index) for m in self._mine
        ]
        heapq.heapify(self._heap)

    # --- status ---------------------------------------------------------------------------

    def set_status(self, machine_id: str, status: MachineStatus, at: float) -> None:
        """Status learnt from machine-telemetry at simulated time ``at``.

        Unknown machine ids (assembly stations, other factories) are ignored. Leaving the
        producing statuses blocks the machine from this call on: a component not yet
        produced is not produced. Coming back, its next component comes one fresh cycle
        after ``at``, or after the latest component already produced if that is later,
        so output stays in time order. Coming back from ERROR (a repair), its next
        ``simulation.degraded_after_repair`` components are made degraded.
        """
        machine = self._by_id.get(machine_id)
        if machine is None:
            return
        status = MachineStatus(status)
        previous = machine.status
        was_producing = previous in PRODUCING_STATUSES
        machine.status = status
        machine.gauge.status(status, at)
        machine.drift_from = machine.gauge.drift_from
        producing = status in PRODUCING_STATUSES
        if was_producing and not producing:
            self._heap = [entry for entry in self._heap if entry[1] != machine.index]
            heapq.heapify(self._heap)
        elif producing and not was_producing:
            if previous is MachineStatus.ERROR:
                machine.degraded_left = self._degraded_after_repair
            if machine.parked:  # it comes back through the heap, parked again if need be
                machine.parked = False
                machine.kind.parked.remove(machine)
            due = max(at, self._last) + self._cycle(machine)
            heapq.heappush(self._heap, (due, machine.index))

    def makes(self, machine_id: str) -> bool:
        """Whether ``machine_id`` is one of the machines this generator makes."""
        return machine_id in self._by_id

    def status(self, machine_id: str) -> MachineStatus:
        """The machine's status as last set (RUNNING at start); only this share's machines."""
        machine = self._by_id.get(machine_id)
        if machine is None:
            raise UnknownMachine(machine_id, list(self._by_id))
        return machine.status

    # --- kanban ---------------------------------------------------------------------------

    def allowance(self, component_type: str) -> float:
        """Units of ``component_type`` that may still be made (math.inf: no limit)."""
        return self._kinds[component_type].left

    def allow(self, component_type: str, units: float, at: float) -> list[str]:
        """Set the allowance of ``component_type`` to ``units`` at simulated time ``at``.

        Above zero, machines parked for want of allowance restart: a producing one's next
        component comes one fresh cycle after ``at`` (or the latest component made). A
        down one waits for its status to come back. Returns the machines unparked.
        """
        kind = self._kinds[component_type]
        kind.left = units
        if units <= 0 or not kind.parked:
            return []
        released = []
        for machine in kind.parked:
            machine.parked = False
            released.append(machine.id)
            self._holds.append(KanbanHold(machine.id, at, held=False))
            if machine.status in PRODUCING_STATUSES:
                due = max(at, self._last) + self._cycle(machine)
                heapq.heappush(self._heap, (due, machine.index))
        kind.parked = []
        return released

    def drain_holds(self) -> list[KanbanHold]:
        """Machines parked or restarted by kanban since the last call, in that order."""
        holds, self._holds = self._holds, []
        return holds

    # --- production -----------------------------------------------------------------------

    @property
    def produced(self) -> dict[str, int]:
        """Components made so far, per machine id (this share's machines)."""
        return {m.id: m.produced for m in self._mine}

    def next_time(self) -> float:
        """Simulated time of the next component any machine will produce (math.inf if none can)."""
        return self._heap[0][0] if self._heap else math.inf

    def produce_until(self, now: float, limit: int | None = None) -> list[ComponentProduced]:
        """Every component due at or before ``now``, in time order (at most ``limit``).

        Components left over by ``limit`` come first in the next call; splitting a span
        into several calls gives the same events as one call. The events are what
        :meth:`produce_records` encodes (decoded from its records).
        """
        return [made.event() for made in self.produce_records(now, limit)]

    def produce_records(self, now: float, limit: int | None = None) -> list[MadeComponent]:
        """:meth:`produce_until`'s components as encoded records (the services' fast
        path: no event object is built, core/fast_encode.py)."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return []
        if limit is None:
            limit = -1
        elif limit <= 0:
            return []
        # The hot loop of the benchmark: everything it touches is a local. It decides
        # each component in event order; the records are written afterwards (_write).
        draft = MadeDraft()
        made_by = draft.machines.append
        made_at = draft.times.append
        event_bits = draft.ids.append
        serial_of = draft.serials.append
        batch_of = draft.batches.append
        uniforms = draft.uniforms.extend
        defects_of = draft.defects.append
        degraded_of = draft.degraded.append
        machines = self._machines
        heapreplace = heapq.heapreplace
        heappop = heapq.heappop
        jitter_low = self._jitter_low
        jitter_span = self._jitter_span
        p = self._stoppage_p
        t = self._last
        count = 0
        while heap and heap[0][0] <= now:
            t, index = heap[0]
            m = machines[index]
            kind = m.kind
            if kind.left <= 0:  # kanban: the type is at its ceiling, the machine waits
                heappop(heap)
                m.parked = True
                kind.parked.append(m)
                self._holds.append(KanbanHold(m.id, t, held=True))
                continue
            kind.left -= 1
            rng = m.rng
            rand = rng.random
            # a version 4 UUID from one draw (as IdSource.event_id)
            event_bits(rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)
            n = m.id_counter & _MASK
            m.id_counter += m.id_stride
            # scramble32, inlined (as IdSource.component_id)
            n = ((n ^ (n >> 16)) * 0x45D9F3B) & _MASK
            n = ((n ^ (n >> 16)) * 0x45D9F3B) & _MASK
            if m.batch_left == 0:
                produced_at = datetime.fromtimestamp(t, UTC)
                m.batch_id = f"BATCH_{produced_at:%Y%m%d_%H%M}_{rng.randrange(10000):04d}"
                m.batch_left = self._batch_size
            m.batch_left -= 1
            # the five measurements' draws (made_draft.measured)
            uniforms((rand(), rand(), rand(), rand(), rand(), rand()))
            u = rand()
            degraded = m.degraded_left > 0
            drifting = t >= m.drift_from and m.gauge.drifting_at(t)
            if degraded:
                m.degraded_left -= 1
                defects = (
                    0 if u < _DEGRADED_1 else 1 if u < _DEGRADED_2 else 2 if u < _DEGRADED_3 else 3
                )
            elif drifting:
                defects = drift_defects(m.gauge.severity(t), u)
            else:
                defects = 0 if u < _DEFECT_1 else 1 if u < _DEFECT_2 else 2 if u < _DEFECT_3 else 3
            serial = "%08x" % (n ^ (n >> 16))  # noqa: UP031
            if drifting:
                m.gauge.made(m.id_prefix + serial, t)
            made_by(m)
            made_at(t)
            serial_of(serial)
            batch_of(m.batch_id)
            defects_of(defects)
            degraded_of(degraded)
            m.produced += 1
            due = t + (m.cycle_low + m.cycle_span * rand()) * (jitter_low + jitter_span * rand())
            if p and rand() < p:
                pause = self._stoppage_low + self._stoppage_span * rand()
                self._stoppages.append(Stoppage(m.id, t, t + pause))
                due += pause
            heapreplace(heap, (due, index))
            count += 1
            if count == limit:
                break
        self._last = t
        return self._write(draft)

    def _write(self, draft: MadeDraft) -> list[MadeComponent]:
        """The records of the components in ``draft``: a batch of :data:`_BATCH_FROM` or
        more at once (core/component_text.py), fewer one by one; the same bytes."""
        times = draft.times
        if len(times) >= _BATCH_FROM and BATCH_TIMES[0] <= times[0] and times[-1] < BATCH_TIMES[1]:
            return self._write_batch(draft)
        out = []
        uniforms = draft.uniforms
        for i, m in enumerate(draft.machines):
            out.append(
                made_component(
                    uuid4_text(draft.ids[i]),
                    m.id_prefix + draft.serials[i],
                    m.component_type,
                    m.id,
                    draft.batches[i],
                    times[i],
                    *measured(m, uniforms[6 * i : 6 * i + 6]),
                    draft.defects[i],
                    m.production_line,
                    draft.degraded[i],
                )
            )
        return out

    def _write_batch(self, draft: MadeDraft) -> list[MadeComponent]:
        if self._writer is None:
            from widget_factory.core.component_text import ComponentWriter

            self._writer = ComponentWriter(self._mine)
        return self._writer.write(draft)

    def drain_drifts(self) -> list[FaultTruth]:
        """The answer key's records of quality drifts begun or ended since the last call."""
        return [drift_record(spell, phase) for m in self._mine for phase, spell in m.gauge.drain()]

    def close_drifts(self, at: float) -> list[FaultTruth]:
        """The run ends at ``at``: drifts going on end there (``open_at_end``)."""
        for m in self._mine:
            m.gauge.close(at)
        return self.drain_drifts()

    def drain_stoppages(self) -> list[Stoppage]:
        """Brief stoppages begun since the last call (for the service's log)."""
        stoppages, self._stoppages = self._stoppages, []
        return stoppages

    # --- internals ------------------------------------------------------------------------

    def _cycle(self, machine: ProductionMachine) -> float:
        """One cycle's length in simulated seconds: range draw times jitter factor."""
        rand = machine.rng.random
        return (machine.cycle_low + machine.cycle_span * rand()) * (
            self._jitter_low + self._jitter_span * rand()
        )
