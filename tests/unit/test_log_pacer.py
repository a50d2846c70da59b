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


def test_a_batch_is_allowed_what_line_by_line_would_be(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    one_wall, batch_wall = _Wall(), _Wall()
    one = LogPacer(logging.getLogger("pacer.one"), "events", wall=one_wall)
    batch = LogPacer(logging.getLogger("pacer.batch"), "events", wall=batch_wall)
    rng = random.Random(4)
    allowed_total = 0
    for _ in range(400):
        one_wall.now = batch_wall.now = one_wall.now + rng.choice([0.01, 0.3, 1.2, 6.0])
        count = rng.choice([0, 1, 3, 25, 400])
        expected = sum(one.allow() for _ in range(count))
        allowed = batch.allow_many(count)
        assert allowed == expected
        allowed_total += allowed
    assert 0 < allowed_total < 400 * 400  # some lines allowed, many only counted
    summaries = {
        name: [r.getMessage() for r in caplog.records if r.name == name]
        for name in ("pacer.one", "pacer.batch")
    }
    assert summaries["pacer.one"] and summaries["pacer.one"] == summaries["pacer.batch"]
