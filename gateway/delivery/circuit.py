"""A circuit breaker per destination: stop hammering a platform that keeps failing.

Closed: requests go as usual. ``failures`` retryable failures in a row open it: the
worker leases nothing, so events stay queued with their attempts untouched (an outage
does not use up retries). After the cool-down it is half-open: one probe request of a
single event goes. A probe that succeeds closes it; one that fails opens it again for
twice as long, up to ``max_cooldown_secs``. A permanent failure (the platform refused
an event) proves the platform is up, so it counts as a success here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from destinations.base import CircuitSettings

State = Literal["closed", "open", "half_open"]


class Circuit:
    """The breaker's state for one destination; not thread-safe (one worker owns it)."""

    def __init__(
        self, settings: CircuitSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state: State = "closed"
        self._failures = 0
        self._cooldown = settings.cooldown_secs
        self._open_until = 0.0

    def wait_secs(self) -> float:
        """Seconds before anything may be sent (0: now). Turns an open circuit whose
        cool-down has passed half-open."""
        if self.state == "open":
            left = self._open_until - self.clock()
            if left > 0:
                return left
            self.state = "half_open"
        return 0.0

    @property
    def probing(self) -> bool:
        """Whether the next request is a probe (send one event, not a batch)."""
        return self.state == "half_open"

    def record(self, ok: bool) -> State | None:
        """Note one request's outcome (``ok``: the platform answered, even with a
        refusal); returns the new state when it changed."""
        before = self.state
        if ok:
            self._failures = 0
            self._cooldown = self.settings.cooldown_secs
            self.state = "closed"
        elif self.state == "half_open":
            self._cooldown = min(self._cooldown * 2, self.settings.max_cooldown_secs)
            self._open()
        else:
            self._failures += 1
            if self.state == "closed" and self._failures >= self.settings.failures:
                self._open()
        return self.state if self.state != before else None

    def _open(self) -> None:
        self.state = "open"
        self._open_until = self.clock() + self._cooldown

    @property
    def cooldown_secs(self) -> float:
        """How long the circuit stays open when it opens next (or stays open now)."""
        return self._cooldown
