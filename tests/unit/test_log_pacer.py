"""The log pacer: a batch asks once and gets what asking line by line would give."""

from __future__ import annotations

import logging
import random

from widget_factory.processes.lifecycle import LogPacer


class _Wall:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _LineByLine:
    """The pacing rule written out line by line: ``per_second`` lines in each wall second,
    the rest counted and summed up in one line at most every 5 s."""

    def __init__(self, log: logging.Logger, per_second: int, wall: _Wall) -> None:
        self.log, self.per_second, self.wall = log, per_second, wall
        self.window_start = self.last_report = wall()
        self.in_window = self.suppressed = 0

    def allow(self) -> bool:
        now = self.wall()
        if now - self.window_start >= 1.0:
            self.window_start, self.in_window = now, 0
        if self.suppressed and now - self.last_report >= 5.0:
            self.log.info(
                "... and %d more %s in the last %.0f s",
                self.suppressed,
                "events",
                now - self.last_report,
            )
            self.suppressed, self.last_report = 0, now
        if self.in_window < self.per_second:
            self.in_window += 1
            return True
        if not self.suppressed:
            self.last_report = now
        self.suppressed += 1
        return False


def test_a_batch_is_allowed_what_line_by_line_would_be(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    one_wall, batch_wall = _Wall(), _Wall()
    batch = LogPacer(logging.getLogger("pacer.batch"), "events", wall=batch_wall)
    one = _LineByLine(logging.getLogger("pacer.one"), batch._per_second, one_wall)
    single = LogPacer(logging.getLogger("pacer.single"), "events", wall=one_wall)
    rng = random.Random(4)
    allowed_total = 0
    for _ in range(400):
        one_wall.now = batch_wall.now = one_wall.now + rng.choice([0.01, 0.3, 1.2, 6.0])
        count = rng.choice([0, 1, 3, 25, 400])
        expected = sum(one.allow() for _ in range(count))
        allowed = batch.allow_many(count)
        assert allowed == expected
        assert sum(single.allow() for _ in range(count)) == expected
        allowed_total += allowed
    assert 0 < allowed_total < 400 * 400  # some lines allowed, many only counted
    summaries = {
        name: [r.getMessage() for r in caplog.records if r.name == name]
        for name in ("pacer.one", "pacer.batch", "pacer.single")
    }
    assert summaries["pacer.one"] and summaries["pacer.one"] == summaries["pacer.batch"]
    assert summaries["pacer.single"] == summaries["pacer.one"]
