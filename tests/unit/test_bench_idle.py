"""The idle phase's arithmetic and its report lines (the measurement itself needs a
running factory: `widget-factory bench --only idle`)."""

from __future__ import annotations

import io
import os

from widget_factory.bench.idle import (
    CPU_SLICE_S,
    IDLE_TARGETS,
    BrokerCpuSlices,
    _slope_per_min,
    _stats,
    _targets,
)
from widget_factory.bench.report import print_report


def test_memory_growth_is_a_least_squares_slope_per_minute() -> None:
    samples = [(float(t), 35.0 + 0.1 * t + (0.5 if t % 2 else -0.5)) for t in range(60)]
    slope = _slope_per_min(samples)
    assert slope is not None and abs(slope - 6.0) < 0.1
    assert _slope_per_min([(0.0, 1.0)]) is None


def _idle(cpu_total: float, worst_p50: float) -> dict:
    result = {
        "window_s": 60.0,
        "speed": 120.0,
        "cpu_pct": {"broker": cpu_total - 5.0, "telemetry": 5.0},
        "cpu_pct_total": cpu_total,
        "broker_rss_mb": [35.0, 41.0],
        "broker_rss_mb_per_min": 6.0,
        "broker_cpu_pct_by_slice": [10.0, 12.0, 14.0],
        "broker_cpu_pct_per_min": 12.0,
        "dashboard_behind_s": _stats([0.2, 0.3, 0.6]),
        "group_behind_s": {"inventory": _stats([worst_p50, 1.2]), "quality-control": _stats([0.0])},
        "monitor_s": 3.1,
        "monitor_full": True,
        "groups_s": 1.2,
        "lag_s": 1.1,
        "order_ok": True,
    }
    result["targets"] = _targets(result)
    return result


def test_targets_compare_each_figure_with_its_bound() -> None:
    good = _idle(16.0, 0.7)["targets"]
    assert set(good) == set(IDLE_TARGETS)
    assert all(t["met"] for t in good.values()), good
    bad = _idle(150.0, 1.7)["targets"]
    assert not bad["cpu_pct_total"]["met"] and not bad["group_behind_p50_s"]["met"]
    assert bad["dashboard_behind_s"]["met"]


def test_the_report_prints_the_idle_lines() -> None:
    doc = {
        "broker": "a fresh embedded broker",
        "machine": {"cpus": 2, "load_average_at_start": [1.0, 1.0, 1.0]},
        "logs": "/tmp/x",
        "idle": _idle(16.0, 0.7),
    }
    out = io.StringIO()
    print_report(doc, out)
    text = out.getvalue()
    assert "16.0 % of one core in all (<= 25: met)" in text
    assert "6.0 MB per minute" in text
    assert "broker CPU by 10 s slice: 10.0 12.0 14.0 % (+12.0 points per minute)" in text
    assert "inventory 0.95/1.2" in text
    assert "monitor --once 3.1 s (full)" in text


def test_the_broker_cpu_series_has_one_point_per_slice_at_its_middle() -> None:
    started = 1000.0
    slices = BrokerCpuSlices(os.getpid(), started)  # any live process: /proc is read
    slices.sample(started + CPU_SLICE_S / 2)
    assert slices.series == []  # a slice is not over yet
    slices.sample(started + CPU_SLICE_S)
    slices.sample(started + CPU_SLICE_S + 1)
    slices.sample(started + 2 * CPU_SLICE_S + 1)
    assert [t for t, _ in slices.series] == [CPU_SLICE_S / 2, 1.5 * CPU_SLICE_S + 0.5]
    assert all(pct >= 0 for _, pct in slices.series)
    assert len(slices.slices()) == 2
    assert BrokerCpuSlices(None, started).series == []  # no broker of ours: nothing
