"""One log line per cause, not one per partition: repeated client warnings folded.

librdkafka reports some troubles once per partition and again at every retry (a topic
gone from an emptied broker gives dozens of "desired partition is no longer available"
within a second). The first occurrence of a cause is logged as it comes; further ones
within the window are counted, and the count is logged as one line ("... (N more in
the last 10 s)") when the window is over and the cause shows up again or the owner
calls :meth:`LogFolder.flush`. The clock is passed in, so the folding is tested
without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LogFolder", "WINDOW_S"]

WINDOW_S = 10.0
"""Seconds during which repeats of one cause are counted rather than logged."""


@dataclass
class _Cause:
    opened: float
    text: str
    repeats: int = 0


class LogFolder:
    """Logs ``(cause, text)`` pairs to ``logger``, folding repeats of a cause per window."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.window_s = window_s
        self.clock = clock
        self._causes: dict[str, _Cause] = {}

    def log(self, level: int, cause: str, text: str) -> bool:
        """Log ``text`` unless ``cause`` was logged less than a window ago; True if logged."""
        now = self.clock()
        seen = self._causes.get(cause)
        if seen is not None and now - seen.opened < self.window_s:
            seen.repeats += 1
            seen.text = text
            return False
        if seen is not None:
            self._report(level, seen)
        self._causes[cause] = _Cause(now, text)
        self.logger.log(level, "%s", text)
        return True

    def flush(self, level: int = logging.WARNING) -> None:
        """Log the counts of causes whose window is over (call it now and then)."""
        now = self.clock()
        for cause, seen in list(self._causes.items()):
            if now - seen.opened >= self.window_s:
                self._report(level, seen)
                del self._causes[cause]

    def _report(self, level: int, seen: _Cause) -> None:
        if seen.repeats:
            self.logger.log(
                level,
                "%s (%d more in the last %.0f s)",
                seen.text,
                seen.repeats,
                self.window_s,
            )
            seen.repeats = 0
