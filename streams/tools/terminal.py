"""What long commands show on a terminal while they work."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """A one-line progress bar with the rate and an estimate of the time left, redrawn at most twice a second."""

    def __init__(self, out: TextIO, width: int = 30, label: str = "replay", unit: str = "records") -> None:
        """Draw on `out` (standard error), the line beginning with `label` and counting `unit`."""
        self.out, self.width, self.label, self.unit = out, width, label, unit
        self.began = self.drawn = time.monotonic()
        self.done = self.total = 0

    def update(self, done: int, total: int) -> None:
        """Take the latest count; redraw when due."""
        self.done, self.total = done, total
        if time.monotonic() - self.drawn >= 0.5:
            self._draw()

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self._draw()
        self.out.write("\n")

    def _draw(self) -> None:
        self.drawn = now = time.monotonic()
        elapsed = max(now - self.began, 1e-9)
        share = self.done / self.total if self.total else 1.0
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        filled = int(self.width * share)
        self.out.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} "
                       f"{self.done:,}/{self.total:,} {self.unit}, {rate:,.0f}/s, about {left:.0f} s left ")
        self.out.flush()
