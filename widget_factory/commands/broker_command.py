"""``widget-factory broker``: the embedded broker in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType

from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.options import positive_int

ORDER = 20
DEFAULT_PORT = 9092
"""The port that every other command's ``--bootstrap-servers`` defaults to."""

__all__ = ["register", "run_broker"]


def run_broker(port: int) -> int:
    broker = EmbeddedBroker(port, stdout=None)
    broker.start()
    default = " (the default for single services)" if port == DEFAULT_PORT else ""
    print(
        f"Embedded Kafka broker (tansu, in memory) listening on {broker.bootstrap_servers}\n"
        f"Use it from other terminals with: --bootstrap-servers {broker.bootstrap_servers}"
        f"{default}\nCtrl-C stops it; everything it holds is lost.",
        flush=True,
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        status = broker.wait()
        print(f"The embedded broker exited (status {status}).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopping the embedded broker...", file=sys.stderr, flush=True)
        return 0
    finally:
        broker.stop()


_HELP = "run the embedded Kafka-compatible broker (tansu, in memory) in the foreground"


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("broker", _HELP, lambda args: run_broker(args.port))
    parser.add_argument(
        "--port", type=positive_int, default=9092, help="port on 127.0.0.1 (default 9092)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
