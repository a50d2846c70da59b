"""Components written a batch at a time (core/component_text.py) are byte for byte the
records written one by one (core/fast_encode.py): every machine state, any call pattern,
the times, ids and numbers as msgspec writes them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec
import numpy as np
import pytest

from widget_factory.core import component_text, production
from widget_factory.core.component_text import ComponentWriter
from widget_factory.core.fast_encode import MadeComponent, made_component
from widget_factory.core.ids import IdSource, uuid4_text
from widget_factory.core.made_draft import MadeDraft, measured
from widget_factory.core.production import ComponentProduction
from widget_factory.core.production_machine import KindAllowance, ProductionMachine
from widget_factory.core.telemetry_text import ReportTimes
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import MachineStatus

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _sent(made: MadeComponent) -> tuple[object, ...]:
    return (
        made.key,
        made.value,
        made.timestamp_ms,
        made.at,
        made.component_id,
        made.component_type,
        made.machine_id,
        made.defect_count,
    )


def _worn() -> FactoryConfig:
    """Machines that wear into quality drift quickly, stop often and make small batches."""
    config = default_config()
    return msgspec.structs.replace(
        config,
        telemetry=msgspec.structs.replace(config.telemetry, wear_per_hour=0.4),
        simulation=msgspec.structs.replace(
            config.simulation, stoppage_probability=0.05, batch_size=7
        ),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_writes_what_one_by_one_writes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two productions, the same seeds and calls: one writes every call's records at
    once, the other one by one. Repairs (degraded parts), maintenance, drift, kanban
    holds and limits all happen."""
    config = _worn()
    made = {
        name: ComponentProduction(config, random.Random(seed), IdSource(random.Random(9)), START)
        for name in ("batched", "scalar")
    }
    plan = random.Random(seed + 100)
    machines = [m.id for m in config.machines]
    kinds = list(config.component_types)
    now, count, degraded, drifts = START, 0, 0, 0
    for step in range(150):
        now += plan.choice([60.0, 900.0, 3600.0, 14_400.0])
        limit = plan.choice([None, None, 5, 100, 700])
        action = plan.random()
        machine, kind = plan.choice(machines), plan.choice(kinds)
        status = plan.choice(
            [MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.RUNNING]
        )
        units = plan.random() * 40 if step % 2 else 0
        written = {}
        for name, production_ in made.items():
            monkeypatch.setattr(production, "_BATCH_FROM", 1 if name == "batched" else 10**9)
            if step in (30, 90):  # every machine breaks down, and is repaired
                for each in machines:
                    production_.set_status(each, MachineStatus.ERROR, now - 600.0)
                    production_.set_status(each, MachineStatus.RUNNING, now - 300.0)
            elif action < 0.2:
                production_.set_status(machine, status, now - 30.0)
            elif action < 0.3:
                production_.allow(kind, units, now - 30.0)
            written[name] = [_sent(m) for m in production_.produce_records(now, limit)]
        assert written["batched"] == written["scalar"], step
        count += len(written["batched"])
        degraded += sum(b'"made_while_degraded":true' in r[1] for r in written["batched"])
        drift = made["batched"].drain_drifts()
        assert drift == made["scalar"].drain_drifts()
        drifts += len(drift)
    assert count > 5_000 and degraded > 0 and drifts > 0


def test_values_near_a_rounding_tie_are_worked_out_as_the_scalar_code_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every value treated as near a tie, the batch takes each from ``measured``
    (math): the records must still be the ones numpy's values gave."""
    config = default_config()
    records = {}
    for tie in (component_text._TIE, 1.0):
        monkeypatch.setattr(component_text, "_TIE", tie)
        made = ComponentProduction(config, random.Random(4), IdSource(random.Random(4)), START)
        records[tie] = [_sent(m) for m in made.produce_records(START + 86_400 * 3)]
    assert len(records[1.0]) > 1_000
    assert records[1.0] == records[component_text._TIE]


def _machine(index: int, name: str, kind: str, line: str) -> ProductionMachine:
    config = default_config()
    spec = config.machines[index % len(config.machines)]
    machine = ProductionMachine(index, spec, config, index, (index, 7), KindAllowance(), START)
    machine.id, machine.component_type, machine.production_line = name, kind, line
    machine.id_prefix = f"COMP_{kind.upper()}_"
    return machine


def test_templates_write_what_msgspec_writes_for_any_name() -> None:
    names = ['M "quoted" 01', "Maschine_ü_02", "100% LOAD", "back\\slash", "PLAIN_01"]
    machines = [
        _machine(i, name, "kind/" + name[-4:], f"LINE_{name[:2]}") for i, name in enumerate(names)
    ]
    writer = ComponentWriter(machines)
    rng = random.Random(6)
    draft = MadeDraft()
    times = [START + rng.uniform(0, 3e8) for _ in range(300)]
    times += [START, START + 0.9999996, START + 86_399.999_999_7, 0.0, 9_007_199_253.999_999]
    for t in sorted(times):
        machine = rng.choice(machines)
        draft.machines.append(machine)
        draft.times.append(t)
        draft.ids.append(rng.getrandbits(128) & production._UUID4_CLEAR | production._UUID4_SET)
        draft.serials.append(f"{rng.getrandbits(32):08x}")
        draft.batches.append(f"BATCH_{rng.randrange(10**8)}")
        draft.uniforms.extend(rng.random() for _ in range(6))
        draft.defects.append(rng.randrange(4))
        draft.degraded.append(rng.random() < 0.5)
    written = writer.write(draft)
    for i, made in enumerate(written):
        machine = draft.machines[i]
        expected = made_component(
            uuid4_text(draft.ids[i]),
            machine.id_prefix + draft.serials[i],
            machine.component_type,
            machine.id,
            draft.batches[i],
            draft.times[i],
            *measured(machine, draft.uniforms[6 * i : 6 * i + 6]),
            draft.defects[i],
            machine.production_line,
            draft.degraded[i],
        )
        assert _sent(made) == _sent(expected)


def test_whole_time_texts_are_what_msgspec_writes() -> None:
    rng = random.Random(8)
    times = [START + rng.uniform(0, 3e8) for _ in range(2_000)]
    times += [0.0, 1e-7, START, START + 0.5e-6, START + 0.9999996, 951_782_400.000_001]
    times += [START + 86_399.999_999_7, 1_709_164_800.25, 253_402_300_799.25]
    times += [9_007_199_253.999_999_7, 9_007_199_253.25]
    micro = ReportTimes.microseconds(np.array(times))
    texts = ReportTimes().texts(micro)
    for t, text in zip(times, texts, strict=True):
        assert b'"' + text + b'"' == msgspec.json.encode(datetime.fromtimestamp(t, UTC)), t
