"""How ``run`` starts its analytics child: the options follow the run's shape."""

from __future__ import annotations

from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.processes.in_run import InRunOptions, _analytics_argv

_SETTINGS = KafkaSettings("127.0.0.1:9092", source="flag")


def test_a_bounded_scaled_out_virtual_run_holds_its_windows_to_the_end() -> None:
    argv = _analytics_argv(InRunOptions(), _SETTINGS, virtual_time=True, bounded=True)
    assert "--no-quiet-frontier" in argv and "--hold-to-end" in argv


def test_an_unbounded_scaled_out_virtual_run_keeps_its_frontiers() -> None:
    argv = _analytics_argv(InRunOptions(), _SETTINGS, virtual_time=True, bounded=False)
    assert "--no-quiet-frontier" in argv and "--hold-to-end" not in argv


def test_lockstep_and_real_time_runs_close_windows_as_they_go() -> None:
    lockstep = _analytics_argv(
        InRunOptions(lockstep=True), _SETTINGS, virtual_time=True, bounded=True
    )
    assert "--lockstep" in lockstep and "--hold-to-end" not in lockstep
    real_time = _analytics_argv(InRunOptions(), _SETTINGS, virtual_time=False, bounded=True)
    assert "--hold-to-end" not in real_time and "--no-quiet-frontier" not in real_time
