"""How far ahead of its virtual clock an assembly process reads, at ``--speed max``.

Virtual time moves to the event time every component partition has reached
(:meth:`~widget_factory.core.progress.InputProgress.local_watermark`). The broker does
not serve the partitions evenly: a consumer can read one partition hours of simulated
time ahead while another holds the clock back, and every component read goes into a
station's stock. In the bench's pipeline that was up to ~158,000 components held at
once, most of the assembly's memory (docs/performance.md). So a partition whose latest
component is more than :data:`LEAD_S` ahead of the watermark is paused until the
watermark comes within half of that: the fetches go to the partitions that hold time
back. Nothing is skipped: a paused partition resumes from the next record not yet read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

__all__ = ["LEAD_S", "ReadAhead", "to_pause", "to_resume"]

LEAD_S = 3600.0
"""Simulated seconds a partition may run ahead of virtual time: an hour, beside the
5-10 minutes a widget takes; a few wall seconds of the bench pipeline's work (15 minutes
held less in stock but cost a third of the rate or more in pausing and refetching)."""


def to_pause(
    times: Mapping[int, float], watermark: float, paused: set[int], lead: float = LEAD_S
) -> list[int]:
    """Partitions to pause: read further than ``lead`` past ``watermark``."""
    return sorted(p for p, t in times.items() if p not in paused and t > watermark + lead)


def to_resume(
    times: Mapping[int, float], watermark: float, paused: set[int], lead: float = LEAD_S
) -> list[int]:
    """Paused partitions to read again: within half of ``lead`` of ``watermark``."""
    return sorted(p for p in paused if times.get(p, watermark) <= watermark + lead / 2)


class ReadAhead:
    """Pauses and resumes the component partitions of one consumer (see the module doc).

    Call :meth:`update` once a loop with the current watermark, and :meth:`release`
    before the assignment changes (what is assigned next starts unpaused)."""

    def __init__(self, topic: str, lead: float = LEAD_S) -> None:
        self._topic = topic
        self._lead = lead
        self.paused: set[int] = set()

    def update(self, consumer: Consumer, times: Mapping[int, float], watermark: float) -> None:
        pause = to_pause(times, watermark, self.paused, self._lead)
        resume = to_resume(times, watermark, self.paused, self._lead)
        if pause:
            with contextlib.suppress(KafkaException):  # revoked meanwhile: nothing to do
                consumer.pause([TopicPartition(self._topic, p) for p in pause])
            self.paused.update(pause)
        if resume:
            with contextlib.suppress(KafkaException):
                consumer.resume([TopicPartition(self._topic, p) for p in resume])
            self.paused.difference_update(resume)

    def release(self, consumer: Consumer) -> None:
        """Resume every paused partition (those already gone are only forgotten)."""
        if self.paused:
            with contextlib.suppress(KafkaException):
                consumer.resume([TopicPartition(self._topic, p) for p in sorted(self.paused)])
        self.paused.clear()
