"""Profile every service of a pipeline run with py-spy (sampling, no code change).

    .venv/bin/pip install py-spy
    .venv/bin/python benchmarks/profile_pipeline.py [--duration 4h] [--config FILE] [--out DIR]

Runs the bench factory (or ``--config``) at unlimited speed on a fresh embedded broker,
attaches ``py-spy record`` to each service process, and writes per service a raw
collapsed-stack file (``DIR/<service>.txt``, for flamegraph tools or speedscope) plus a
summary of the hottest functions by own time and by total time (``DIR/summary.txt``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from widget_factory.bench import bench_config_path
from widget_factory.bench.generation import START
from widget_factory.bench.procs import output_to
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import create_topics
from widget_factory.processes.service_args import common_service_args
from widget_factory.processes.services import SERVICES
from widget_factory.processes.supervisor import FactoryRun


def summarize(raw: Path, top: int = 25) -> str:
    """Hottest frames of a py-spy raw file: own time (leaf) and total time (anywhere)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        return f"{raw.stem}: no samples\n"
    lines = [f"== {raw.stem}: {samples} samples", "-- own time"]
    lines += [f"{100 * n / samples:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("-- total time")
    lines += [f"{100 * n / samples:5.1f}%  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="4h", help="simulated duration (default 4h)")
    parser.add_argument("--config", default=str(bench_config_path()))
    parser.add_argument("--out", default="benchmarks/results/profile")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker() as broker:
        settings = KafkaSettings(broker.bootstrap_servers, source="flag")
        create_topics(settings)
        shared = common_service_args(
            bootstrap=settings.bootstrap_servers,
            speed=None,
            seed=1,
            duration=args.duration,
            start=START,
            anchor_wall=time.time(),
            config=args.config,
            kafka_config=None,
            overrides=[],
            debug=False,
        )
        run = FactoryRun({name: list(shared) for name in SERVICES}, bounded=True)
        spies: list[subprocess.Popen[bytes]] = []

        def attach() -> None:
            while len(run.children) < len(SERVICES):
                time.sleep(0.01)
            for name, child in run.children.items():
                assert child.process is not None
                command = [py_spy, "record", "--pid", str(child.process.pid), "--rate"]
                command += [str(args.rate), "--format", "raw", "--nonblocking"]
                command += ["--output", str(out / f"{name}.txt")]
                spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))

        with output_to(out / "services.log"):
            started = time.monotonic()
            run.start()
            threading.Thread(target=attach, daemon=True).start()
            status = run.wait()
            elapsed = time.monotonic() - started
        for spy in spies:
            spy.wait(30)
    summary = "".join(summarize(out / f"{name}.txt") for name in SERVICES)
    (out / "summary.txt").write_text(summary)
    print(f"status {status}, {elapsed:.1f} s; profiles in {out}/")
    print(summary)
    return status


if __name__ == "__main__":
    sys.exit(main())
