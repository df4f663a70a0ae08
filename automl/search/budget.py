"""One deadline for a whole ``fit``: every step asks it how much time is left."""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Deadline:
    """A point in time (``time.monotonic`` clock) that nothing may run past.

    Parameters
    ----------
    seconds : float or None
        Time budget from now. ``None`` means no limit (``remaining`` is infinite).
    """

    seconds: float | None
    start: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float:
        """Monotonic time at which the budget runs out (``inf`` without a budget)."""
        return float("inf") if self.seconds is None else self.start + self.seconds

    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return time.monotonic() - self.start

    def remaining(self) -> float:
        """Seconds left, never negative (``inf`` without a budget)."""
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        """Whether the budget is used up."""
        return self.remaining() <= 0.0
