"""A batch of running machines' reports written straight into their records' bytes.

Most telemetry reports are a running machine's: the same text each time but for the
event id, the time and five numbers. :class:`RunningTemplate` is that text for one
machine, cut from msgspec's own encoding of a report (so keys, order and escaping are the
encoder's), with ``%s`` where the variable parts go; :class:`ReportTimes` writes a
batch's times as msgspec writes a ``datetime`` (``2026-01-01T00:00:15.031591Z``, no
fraction when it is zero) and as the epoch milliseconds ``int(dt.timestamp() * 1000)``
gives, from the same microseconds ``datetime.fromtimestamp`` rounds to; the numbers are
encoded by msgspec in one list. ``tests/unit/test_report_batch.py`` compares every byte
with the Struct's encoding.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec
import numpy as np
from numpy.typing import NDArray

from widget_factory.core.fast_encode import TelemetryWire, encode_wire
from widget_factory.core.machine_state import MachineUnit
from widget_factory.schemas import SCHEMA_VERSION, MachineStatus, TelemetryMetrics

__all__ = ["RunningTemplate", "ReportTimes", "cut_template", "encoded_numbers"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MARK_TIME: Final = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
_MARK_METRICS: Final = TelemetryMetrics(111.125, 222.125, 333.125, 444444, 55.125)
_MARKS: Final = (
    b"\\u0001",
    b'"2001-02-03T04:05:06.000007Z"',
    b"111.125",
    b"222.125",
    b"333.125",
    b"444444",
    b"55.125",
)
_TENS: Final = np.array([10, 1])
_MICRO_PLACES: Final = np.array([100_000, 10_000, 1_000, 100, 10, 1])
_ZERO: Final = ord("0")
_SLOTS: Final = (b"%s", b'"%s%s%s"', b"%s", b"%s", b"%s", b"%s", b"%s")


class RunningTemplate:
    """One machine's running report, with ``%s`` for its event id, the three parts of its
    time (:class:`ReportTimes`) and its five numbers, in the contract's order."""

    __slots__ = ("text",)

    def __init__(self, unit: MachineUnit) -> None:
        sample = encode_wire(
            TelemetryWire(
                "\x01",
                SCHEMA_VERSION,
                unit.id,
                unit.machine_type,
                _MARK_TIME,
                MachineStatus.RUNNING,
                _MARK_METRICS,
                unit.location,
            )
        )
        self.text = cut_template(sample, _MARKS, _SLOTS, f"report of {unit.id!r}")


def cut_template(
    sample: bytes, marks: tuple[bytes, ...], slots: tuple[bytes, ...], what: str
) -> bytes:
    """A ``%`` template from msgspec's encoding of a sample record: each mark (a value
    no real record has) becomes its slot, and a literal ``%`` stays one. A sample in
    which a mark is not found exactly once (a name that looks like a mark) has no
    template: ValueError names ``what``."""
    text = sample.replace(b"%", b"%%")
    for mark, slot in zip(marks, slots, strict=True):
        if text.count(mark) != 1:
            raise ValueError(f"cannot cut a template for the {what}")
        text = text.replace(mark, slot)
    return text


class ReportTimes:
    """Times as msgspec writes them, cut in three (day, time of day, fraction), each part
    kept once; and their epoch milliseconds."""

    def __init__(self) -> None:
        self._days: dict[int, bytes] = {}
        self._clock: dict[int, bytes] = {}
        self._fractions: dict[int, bytes] = {}

    @staticmethod
    def microseconds(times: NDArray[np.float64]) -> NDArray[np.int64]:
        """``datetime.fromtimestamp(t, UTC)`` in whole microseconds since the epoch: the
        fraction of a second rounded half to even, as CPython rounds it (times ≥ 0)."""
        whole = np.floor(times)
        micro = np.rint((times - whole) * 1e6)
        carry = micro >= 1e6
        whole[carry] += 1.0
        micro[carry] -= 1e6
        return whole.astype(np.int64) * 1_000_000 + micro.astype(np.int64)

    @staticmethod
    def milliseconds(micro: NDArray[np.int64]) -> list[int]:
        """``int(dt.timestamp() * 1000)``: microseconds over 10**6 as one correctly
        rounded division, then times 1000, truncated."""
        return np.trunc(micro.astype(np.float64) / 1e6 * 1000.0).astype(np.int64).tolist()

    def parts(self, micro: NDArray[np.int64]) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """Day, time of day and fraction of each time, as bytes."""
        seconds, fraction = np.divmod(micro, 1_000_000)
        day, clock = np.divmod(seconds, 86_400)
        days, clocks, fractions = self._days, self._clock, self._fractions
        return (
            [days.get(d) or self._day(d) for d in day.tolist()],
            [clocks.get(c) or self._time(c) for c in clock.tolist()],
            [fractions.get(f) or self._fraction(f) for f in fraction.tolist()],
        )

    def texts(self, micro: NDArray[np.int64]) -> list[bytes]:
        """Each time's whole text, written by numpy: for times at any microsecond
        (components), whose fractions rarely repeat and are not worth keeping."""
        seconds, fraction = np.divmod(micro, 1_000_000)
        day, clock = np.divmod(seconds, 86_400)
        unique_days, which = np.unique(day, return_inverse=True)
        dates = np.frombuffer(
            b"".join(self._day(d) for d in unique_days.tolist()), dtype=np.uint8
        ).reshape(-1, 11)
        count = len(micro)
        text = np.empty((count, 27), dtype=np.uint8)
        text[:, 0:11] = dates[which]
        hours, rest = np.divmod(clock, 3600)
        text[:, 11:13] = hours[:, None] // _TENS % 10 + _ZERO
        text[:, 14:16] = rest[:, None] // 60 // _TENS % 10 + _ZERO
        text[:, 17:19] = rest[:, None] % 60 // _TENS % 10 + _ZERO
        text[:, [13, 16]] = ord(":")
        text[:, 19] = ord(".")
        text[:, 20:26] = fraction[:, None] // _MICRO_PLACES % 10 + _ZERO
        text[:, 26] = ord("Z")
        block = text.tobytes()
        out = [block[at : at + 27] for at in range(0, 27 * count, 27)]
        for i in np.flatnonzero(fraction == 0).tolist():
            out[i] = out[i][:19] + b"Z"
        return out

    def _day(self, day: int) -> bytes:
        text = self._days.get(day)
        if text is None:
            date = _EPOCH + timedelta(days=day)
            text = self._days[day] = b"%04d-%02d-%02dT" % (date.year, date.month, date.day)
        return text

    def _time(self, clock: int) -> bytes:
        text = self._clock.get(clock)
        if text is None:
            hours, rest = divmod(clock, 3600)
            text = self._clock[clock] = b"%02d:%02d:%02d" % (hours, *divmod(rest, 60))
        return text

    def _fraction(self, micro: int) -> bytes:
        text = self._fractions.get(micro)
        if text is None:
            text = self._fractions[micro] = b".%06dZ" % micro if micro else b"Z"
        return text


def encoded_numbers(values: list[float] | list[int]) -> list[bytes]:
    """Each number as msgspec writes it (one encoding for the whole list)."""
    if not values:
        return []
    return msgspec.json.encode(values)[1:-1].split(b",")
