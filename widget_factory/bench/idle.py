"""The bench's ``idle`` phase: what the default ``widget-factory run`` costs at rest.

``widget-factory run`` as a user starts it (reference factory, its default speed,
dashboard and analytics on, the embedded broker unless the bench was given a cluster)
runs for a warm-up until the dashboard shows every consumer group, then for the
measured window (at least 60 s). Measured:

- CPU of the broker and of every process of ``run`` (the ``run`` process itself hosts
  the dashboard), in % of one core, from ``/proc`` over the window;
- the broker's resident memory at both ends and its growth per minute (least squares
  over one sample a second), and how its CPU grows: its % of one core over each
  :data:`CPU_SLICE_S` slice of the window, and the growth per minute (least squares over
  the slices). The embedded broker's cost per fetch grows with the batches it stores
  (docs/performance.md, "What grows"), so a factory left running costs more each minute;
- how current the dashboard is: the factory's simulated clock (from the services'
  ``--start``, ``--anchor-wall`` and ``--speed``) minus the newest event time the
  dashboard shows, in wall seconds, once a second;
- how far behind production each consumer group's committed offsets are, every two
  seconds: the age, in wall seconds of the factory's clock, of the oldest record past
  its committed offset on any partition it reads (0 when it has committed everything).
  The groups commit every quarter second when offsets moved, which is part of it;
- then, with the factory still running, the tools a user reaches for: ``monitor --once``
  (wall time, and whether it showed machines and events), ``groups``,
  ``lag --group inventory``, and ``order`` (must not warn of a missing factory).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from widget_factory.bench.procs import cpu_seconds
from widget_factory.kafka_io.broker import free_port
from widget_factory.kafka_io.broker_memory import resident_bytes
from widget_factory.kafka_io.lag import committed_offsets
from widget_factory.kafka_io.settings import KafkaSettings


def settings_for(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap, source="flag")


__all__ = ["IDLE_TARGETS", "MIN_WINDOW_S", "measure_idle", "GROUP_TOPICS"]

MIN_WINDOW_S = 60.0
IDLE_TARGETS = {
    "cpu_pct_total": 25.0,
    "dashboard_behind_s": 1.0,
    "group_behind_p50_s": 1.0,
    "monitor_s": 5.0,
    "groups_s": 2.0,
    "lag_s": 2.0,
}
"""Upper bounds: all of the factory within a quarter of one core, the dashboard never
more than a wall second behind, each group's committed offsets typically (median) within
a second of production (their maximum adds up to a commit interval, one second for
the pipeline's groups), the tools answering in a few seconds."""

GROUP_TOPICS = {
    "assembly-stations": ("component-production", "production-orders"),
    "quality-control": ("widget-assembly",),
    "inventory": ("component-production", "widget-assembly", "quality-control"),
    "factory-analytics": (
        "component-production",
        "widget-assembly",
        "quality-control",
        "machine-telemetry",
        "inventory-updates",
    ),
}
"""The groups the dashboard shows and the topics each reads."""

_READY_TIMEOUT_S = 120.0
_SETTLE_S = 5.0
CPU_SLICE_S = 10.0
"""Wall seconds per slice of the broker's CPU series (long enough for /proc's ticks)."""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _argv(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return [a.decode() for a in cmdline.read().split(b"\0") if a]
    except OSError:
        return []


def _processes(run_pid: int) -> dict[str, int]:
    """``broker``, ``run`` and each service by name, from the run's children."""
    named = {"run": run_pid}
    for pid in _children(run_pid):
        argv = _argv(pid)
        if argv and "tansu" in Path(argv[0]).name:
            named["broker"] = pid
        elif "widget_factory" in argv:
            at = argv.index("widget_factory")
            if at + 1 < len(argv):
                named[argv[at + 1]] = pid
    return named


def _clock(processes: dict[str, int]) -> tuple[float, float, float] | None:
    """(start, anchor wall, speed) from a service's command line."""
    argv = _argv(processes.get("components", -1))
    try:
        values = {
            k: float(argv[argv.index(k) + 1]) for k in ("--start", "--anchor-wall", "--speed")
        }
    except (ValueError, IndexError):
        return None
    return values["--start"], values["--anchor-wall"], values["--speed"]


def _state(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as answer:
            document: dict[str, Any] = json.load(answer)
            return document
    except (OSError, ValueError):
        return None


def _ready(state: dict[str, Any] | None) -> bool:
    if not state or not state.get("connected") or not state.get("sim_time"):
        return False
    lag = state.get("lag") or {}
    return all((lag.get(group) or {}).get("active") for group in GROUP_TOPICS)


def _behind_s(
    reader: Consumer,
    committed: dict[tuple[str, int], int],
    partitions: list[tuple[str, int]],
    factory_now: float,
    speed: float,
) -> float:
    """Wall seconds since the oldest record past the committed offsets was made (its
    Kafka timestamp is its simulated time); 0 when every partition is committed to its end."""
    reader.assign([TopicPartition(t, p, committed.get((t, p), 0)) for t, p in partitions])
    oldest: float | None = None
    answered: set[tuple[str, int]] = set()
    deadline = time.monotonic() + 5.0
    try:
        while len(answered) < len(partitions) and time.monotonic() < deadline:
            for message in reader.consume(len(partitions), 0.1):
                key = (str(message.topic()), int(message.partition() or 0))
                if key in answered:
                    continue
                answered.add(key)
                kind, stamp = message.timestamp()
                if message.error() is None and kind and stamp > 0:
                    oldest = stamp / 1000 if oldest is None else min(oldest, stamp / 1000)
    finally:
        reader.unassign()
    return 0.0 if oldest is None else max(0.0, (factory_now - oldest) / speed)


def _partitions(consumer: Consumer, topics: tuple[str, ...]) -> list[tuple[str, int]]:
    metadata = consumer.list_topics(timeout=10)
    return [
        (topic, partition)
        for topic in topics
        if (info := metadata.topics.get(topic)) is not None
        for partition in info.partitions
    ]


def _ends(consumer: Consumer, topics: set[str]) -> dict[str, int]:
    """Records on each topic so far (ListOffsets: a few records short on the embedded
    broker, which does not matter for a rate over a minute)."""
    metadata = consumer.list_topics(timeout=10)
    totals: dict[str, int] = {}
    for topic in topics:
        info = metadata.topics.get(topic)
        for partition in info.partitions if info is not None else ():
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            totals[topic] = totals.get(topic, 0) + max(0, high)
    return totals


def _slope_per_min(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 2:
        return None
    mean_t = statistics.fmean(t for t, _ in samples)
    mean_v = statistics.fmean(v for _, v in samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread <= 0:
        return None
    return 60.0 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread


class BrokerCpuSlices:
    """The broker's CPU, % of one core, over consecutive :data:`CPU_SLICE_S` slices."""

    def __init__(self, pid: int | None, started: float) -> None:
        self._pid = pid
        self._started = started
        self._at = started
        self._seconds = cpu_seconds(pid) if pid is not None else None
        self.series: list[tuple[float, float]] = []
        """(middle of the slice, wall seconds since the start; % of one core)."""

    def sample(self, now: float) -> None:
        if self._pid is None or self._seconds is None or now - self._at < CPU_SLICE_S:
            return
        seconds = cpu_seconds(self._pid)
        if seconds is None:
            return
        pct = 100.0 * (seconds - self._seconds) / (now - self._at)
        self.series.append(((self._at + now) / 2 - self._started, pct))
        self._at, self._seconds = now, seconds

    def slices(self) -> list[float]:
        return [round(pct, 1) for _, pct in self.series]


def _timed(argv: list[str], env: dict[str, str], timeout: float = 60.0) -> tuple[float, str, int]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return timeout, "", -1
    return time.monotonic() - started, done.stdout + done.stderr, done.returncode


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "max": None}
    return {"p50": round(statistics.median(values), 2), "max": round(max(values), 2)}


@contextlib.contextmanager
def _factory(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def measure_idle(
    seconds: float,
    workdir: Path,
    progress: Callable[[str], None],
    settings: KafkaSettings | None = None,
) -> dict[str, Any]:
    """The default ``run`` for ``max(seconds, 60)`` wall seconds after start-up."""
    window = max(MIN_WINDOW_S, seconds)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    cli = [sys.executable, "-m", "widget_factory"]
    where = ["--bootstrap-servers", settings.bootstrap_servers] if settings else []
    log = workdir / "idle.log"
    with _factory([*cli, "run", "--dashboard-port", str(port), *where], env, log) as run:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not _ready(_state(port)):
            if run.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"idle: the factory did not come up; see {log}")
            time.sleep(1.0)
        time.sleep(_SETTLE_S)
        processes = _processes(run.pid)
        clock = _clock(processes)
        bootstrap = settings.bootstrap_servers if settings else None
        if bootstrap is None:
            argv = _argv(processes.get("components", -1))
            bootstrap = argv[argv.index("--bootstrap-servers") + 1]
        probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "widget-factory-bench-idle"})
        reader = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "widget-factory-bench-idle",
                "enable.partition.eof": True,
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "max.partition.fetch.bytes": 4096,
            }
        )
        admin = AdminClient({"bootstrap.servers": bootstrap})
        group_partitions = {g: _partitions(probe, ts) for g, ts in GROUP_TOPICS.items()}
        topics = {t for ts in GROUP_TOPICS.values() for t in ts}
        progress(f"idle: the default `widget-factory run`, measured for {window:g} s")
        ends_before = _ends(probe, topics)
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        started = time.monotonic()
        rss: list[tuple[float, float]] = []
        broker_cpu = BrokerCpuSlices(processes.get("broker"), started)
        behind: list[float] = []
        lags: dict[str, list[float]] = {group: [] for group in GROUP_TOPICS}
        samples = 0
        while (now := time.monotonic()) - started < window:
            samples += 1
            broker_rss = resident_bytes(processes["broker"]) if "broker" in processes else None
            if broker_rss is not None:
                rss.append((now - started, broker_rss / (1 << 20)))
            broker_cpu.sample(now)
            state = _state(port)
            if state and clock and state.get("sim_time"):
                shown = datetime.fromisoformat(state["sim_time"].replace("Z", "+00:00"))
                start, anchor, speed = clock
                factory_now = start + (time.time() - anchor) * speed
                behind.append(max(0.0, (factory_now - shown.timestamp()) / speed))
            if clock and samples % 2 == 0:
                start, anchor, speed = clock
                for group, keys in group_partitions.items():
                    offsets = committed_offsets(settings_for(bootstrap), group, admin=admin)
                    factory_now = start + (time.time() - anchor) * speed
                    lags[group].append(_behind_s(reader, offsets, keys, factory_now, speed))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
        elapsed = time.monotonic() - started
        cpu_after = {name: cpu_seconds(pid) for name, pid in processes.items()}
        ends_after = _ends(probe, topics)
        probe.close()
        reader.close()
        del admin
        cpu = {
            name: round(100.0 * (cpu_after[name] - cpu_before[name]) / elapsed, 1)  # type: ignore[operator]
            for name in processes
            if cpu_before.get(name) is not None and cpu_after.get(name) is not None
        }
        rates = {
            group: sum(ends_after.get(t, 0) - ends_before.get(t, 0) for t in ts) / elapsed
            for group, ts in GROUP_TOPICS.items()
        }
        group_behind_s = {group: _stats(values) for group, values in lags.items()}
        progress("idle: monitor --once, groups, lag, order against the running factory")
        tool_env = {**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        monitor_s, monitor_out, _ = _timed([*cli, "monitor", "--once", "--width", "160"], tool_env)
        groups_s, _, groups_rc = _timed([*cli, "groups"], tool_env)
        lag_s, _, lag_rc = _timed([*cli, "lag", "--group", "inventory"], tool_env)
        _order_s, order_out, order_rc = _timed([*cli, "order", "basic_widget", "1"], tool_env)
    factory_speed = clock[2] if clock else None
    result: dict[str, Any] = {
        "window_s": round(elapsed, 1),
        "speed": factory_speed,
        "cpu_pct": dict(sorted(cpu.items())),
        "cpu_pct_total": round(sum(cpu.values()), 1),
        "broker_rss_mb": [round(rss[0][1], 1), round(rss[-1][1], 1)] if rss else None,
        "broker_rss_mb_per_min": _round(_slope_per_min(rss)),
        "broker_cpu_pct_by_slice": broker_cpu.slices(),
        "broker_cpu_pct_per_min": _round(_slope_per_min(broker_cpu.series)),
        "records_per_s": {g: round(r, 1) for g, r in rates.items()},
        "dashboard_behind_s": _stats(behind),
        "group_behind_s": group_behind_s,
        "monitor_s": round(monitor_s, 2),
        "monitor_full": "no events yet" not in monitor_out
        and "no telemetry yet" not in monitor_out,
        "groups_s": round(groups_s, 2) if groups_rc == 0 else None,
        "lag_s": round(lag_s, 2) if lag_rc == 0 else None,
        "order_ok": order_rc == 0 and "is the factory running" not in order_out,
        "log": str(log),
    }
    result["targets"] = _targets(result)
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    worst = max(
        (s["p50"] for s in result["group_behind_s"].values() if s["p50"] is not None),
        default=None,
    )
    measured = {
        "cpu_pct_total": result["cpu_pct_total"],
        "dashboard_behind_s": result["dashboard_behind_s"]["max"],
        "group_behind_p50_s": worst,
        "monitor_s": result["monitor_s"] if result["monitor_full"] else None,
        "groups_s": result["groups_s"],
        "lag_s": result["lag_s"],
    }
    return {
        name: {
            "target": target,
            "measured": measured[name],
            "met": measured[name] is not None and measured[name] <= target,
        }
        for name, target in IDLE_TARGETS.items()
    }
