"""Simulated time: a speed factor over the wall clock, or virtual time that jumps.

Times in the core are floats: seconds since the Unix epoch, in simulated time. A
``SimClock`` with ``speed`` N runs N simulated seconds per wall second from an anchor;
with ``speed=None`` it is virtual: it only moves when told (``advance_to``) or when a
later event is observed, so a run goes as fast as the machine allows.

Services in one ``run`` share the anchor, so their simulated clocks agree. A service
started on its own (the walkthrough's four terminals) anchors at its own start and
``observe``s the times of the events it reads: when another service is ahead, this
clock jumps forward to it and stays monotonic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["SimClock", "to_datetime", "to_epoch", "format_sim_duration", "parse_duration"]


def to_datetime(t: float) -> datetime:
    """A timezone-aware UTC datetime for simulated epoch seconds ``t``."""
    return datetime.fromtimestamp(t, UTC)


def to_epoch(moment: datetime) -> float:
    return moment.timestamp()


class SimClock:
    """Simulated time; see the module docstring."""

    def __init__(
        self,
        start: float,
        speed: float | None,
        *,
        anchor_wall: float | None = None,
        wall: Callable[[], float],
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive or None (virtual), got {speed}")
        self.start = start
        self.speed = speed
        self._wall = wall
        self._anchor_wall = wall() if anchor_wall is None else anchor_wall
        self._offset = 0.0
        self._virtual_now = start

    @property
    def virtual(self) -> bool:
        return self.speed is None

    def now(self) -> float:
        if self.speed is None:
            return self._virtual_now
        return self.start + (self._wall() - self._anchor_wall) * self.speed + self._offset

    def elapsed(self) -> float:
        """Simulated seconds since the start."""
        return self.now() - self.start

    def observe(self, t: float) -> None:
        """An event at simulated time ``t`` was seen: never stay behind it."""
        now = self.now()
        if t > now:
            if self.speed is None:
                self._virtual_now = t
            else:
                self._offset += t - now

    def advance_to(self, t: float) -> None:
        """Virtual clocks jump to ``t`` (never backwards); real-time clocks ignore it."""
        if self.speed is None and t > self._virtual_now:
            self._virtual_now = t

    def wall_seconds_until(self, t: float) -> float:
        """How long to wait on the wall clock until simulated time ``t`` (0 when virtual)."""
        if self.speed is None:
            return 0.0
        return max(0.0, (t - self.now()) / self.speed)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Simulated seconds from ``3600``, ``90s``, ``30m``, ``8h`` or ``1d``."""
    value = text.strip().lower()
    unit = 1
    if value and value[-1] in _UNITS:
        unit = _UNITS[value[-1]]
        value = value[:-1]
    try:
        number = float(value)
    except ValueError:
        raise ValueError(
            f"expected a duration like 3600, 90s, 30m, 8h or 1d, got {text!r}"
        ) from None
    if number <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return number * unit


def format_sim_duration(seconds: float) -> str:
    """``1d 02:03:04`` style, for logs and summaries."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text
