"""A digest of every topic of one seeded factory run: to prove a change left the bytes alone.

Starts an embedded broker, runs the factory in virtual time from a fixed start (``run
--speed max --start ... --seed ...``, drained), then reads every topic from the start and
prints, per topic, its record count and a SHA-256 over each partition's records
(timestamp, key and value), as ``tests/integration/test_reproducible.py`` compares two
runs. Topics several services write are compared as sets per partition (how two
producers interleave depends on timing); the stations' changelog is left out (it
carries consumer positions).

    python benchmarks/topic_digests.py --duration 6h --seed 5 > /tmp/after.txt
    python benchmarks/topic_digests.py --duration 1d --seed 1 --late-fraction 0.05

(other ``run`` options pass through).

For an older revision, ``git archive REV | tar -x -C /tmp/old`` and add ``--tree
/tmp/old``: the factory then runs from that tree (this script still reads the topics),
and ``diff`` the two outputs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not any(Path(p, "widget_factory").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))

from widget_factory.kafka_io.broker import EmbeddedBroker  # noqa: E402
from widget_factory.kafka_io.topic_digests import topic_digests  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="6h")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--start", default="2026-01-01T00:00:00+00:00")
    parser.add_argument("--workers", type=int, default=1, help="components/telemetry workers")
    parser.add_argument("--tree", type=Path, default=ROOT, help="run the factory from here")
    args, extra = parser.parse_known_args()
    command = [
        sys.executable,
        "-m",
        "widget_factory",
        "run",
        "--speed",
        "max",
        "--duration",
        args.duration,
        "--seed",
        str(args.seed),
        "--start",
        args.start,
        "--no-dashboard",
        *extra,
    ]
    if args.workers > 1:
        command += ["--generation-workers", str(args.workers)]
    with EmbeddedBroker() as broker:
        done = subprocess.run(
            [*command[:4], "--bootstrap-servers", broker.bootstrap_servers, *command[4:]],
            capture_output=True,
            text=True,
            cwd=args.tree,
            env={**os.environ, "PYTHONPATH": str(args.tree)},
        )
        if done.returncode != 0:
            sys.exit(f"the run failed ({done.returncode}): {done.stderr[-2000:]}")
        for topic, (count, digest) in sorted(topic_digests(broker.bootstrap_servers).items()):
            print(f"{topic:32s} {count:8d} {digest}")


if __name__ == "__main__":
    main()
