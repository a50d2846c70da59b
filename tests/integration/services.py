"""Services as separate processes, for fault drills: start, kill, restart, drain, audit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

from tests.conftest import ROOT, run_cli
from tests.patience import ceiling
from widget_factory.core.scenario_plan import dump_toml
from widget_factory.processes.children import running, signal_running

PRODUCERS = ("telemetry", "components")
CONSUMERS = ("assembly", "quality", "inventory")

START_LINES = {
    "assembly": "Assembly stations",
    "quality": "Quality control with",
    "inventory": "Inventory ledger on",
    "telemetry": "Telemetry on",
    "components": "Component production on",
}
"""The first line each service logs once it is connected and handles its signals."""


@dataclass
class Service:
    """One service process; its output goes to a temporary file (read with ``output``)."""

    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] = field(default_factory=lambda: tempfile.TemporaryFile())  # noqa: SIM115
    starts: int = 0
    started_at: int = 0
    """Where the latest start's output begins in the log."""

    def start(self) -> None:
        self.log.seek(0, os.SEEK_END)
        self.started_at = self.log.tell()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "widget_factory", self.name, *self.args],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.starts += 1

    @property
    def ready(self) -> bool:
        """The latest start has logged its first line: connected, and a signal now stops
        or drains it (before that, a busy machine may still be starting the interpreter)."""
        self.log.seek(self.started_at)
        return START_LINES[self.name] in self.log.read().decode(errors="replace")

    @property
    def alive(self) -> bool:
        return running(self.process)

    def signal(self, signum: int) -> None:
        signal_running(self.process, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(ceiling(10))

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def exit_code(self, timeout: float, what: str = "stop") -> int:
        """The exit status once the service exits within ``timeout``; otherwise it is
        killed and the failure shows the end of its log with every thread's stack (what it
        was doing when asked to ``what``)."""
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGQUIT)  # its stacks to the log (processes/lifecycle.py)
            wait_for(lambda: "most recent call first" in self.output(), 5)
            self.kill()
            raise AssertionError(
                f"{self.name} did not {what} within {timeout:.0f} s:\n{self.output()[-3000:]}"
            ) from None


class Factory:
    """The five services as separate processes against ``bootstrap``."""

    def __init__(self, bootstrap: str, *, speed: str = "600", extra: Sequence[str] = ()) -> None:
        self.bootstrap = bootstrap
        common = ["--bootstrap-servers", bootstrap, "--speed", speed, *extra]
        self.services = {name: Service(name, list(common)) for name in (*CONSUMERS, *PRODUCERS)}

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    def start(self) -> None:
        for service in self.services.values():
            service.start()

    def drain(self, timeout: float = 90.0) -> None:
        """Stop the producers, then let each consumer catch up and exit, in pipeline order."""
        if not wait_for(lambda: all(s.ready for s in self.services.values()), 30):
            late = [n for n, s in self.services.items() if not s.ready]
            raise AssertionError(f"not started: {late}\n{self[late[0]].output()[-3000:]}")
        for name in PRODUCERS:
            self[name].signal(signal.SIGINT)
        for name in PRODUCERS:
            assert self[name].exit_code(ceiling(15)) == 0, self[name].output()[-3000:]
        for name in CONSUMERS:
            self[name].signal(signal.SIGUSR1)
            code = self[name].exit_code(ceiling(timeout), "drain")
            assert code == 0, self[name].output()[-3000:]

    def keep_logs(self, label: str) -> None:
        """Each service's output to ``$WF_DRILL_LOGS/<label>-<service>.log`` when that
        variable names a folder (to study a drill), and the tails printed (pytest shows
        them for a failed test)."""
        folder = os.environ.get("WF_DRILL_LOGS")
        for name, service in self.services.items():
            text = service.output()
            if folder:
                with open(os.path.join(folder, f"{label}-{name}.log"), "w") as file:
                    file.write(text)
            print(f"\n--- {name} (started {service.starts}x), last lines ---")
            print("\n".join(text.splitlines()[-25:]))

    def stop(self) -> None:
        for service in self.services.values():
            service.signal(signal.SIGTERM)
        for service in self.services.values():
            if service.process is not None:
                try:
                    service.wait(ceiling(10))
                except subprocess.TimeoutExpired:
                    service.kill()


def audit(bootstrap: str) -> dict:
    result = run_cli("audit", "--json", "--bootstrap-servers", bootstrap, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until true; ``timeout`` is the idle-machine figure, scaled by
    :func:`patience` (a condition wait, never a race against the clock)."""
    deadline = time.monotonic() + ceiling(timeout)
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def config_without_kanban(folder: Path) -> Path:
    """The reference factory with kanban off: machines run flat out, as before kanban
    (runs that count on that volume, or have no assembly to drain the stock)."""
    data = tomllib.loads(resources.files("widget_factory").joinpath("factory.toml").read_text())
    data["kanban"] = {**data.get("kanban", {}), "enabled": False}
    path = folder / "factory-no-kanban.toml"
    path.write_text(dump_toml(data))
    return path
