"""When to try again: exponential backoff with full jitter, and ``Retry-After`` honoured.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads the retries
of many gateways hitting one recovering platform. A ``Retry-After`` from the platform
is a floor: we never come back sooner than asked.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from destinations.base import RetrySettings

#: a platform asking us to wait longer than a day is treated as asking for a day
MAX_RETRY_AFTER_SECS = 86_400.0


def backoff_secs(
    attempt: int,
    settings: RetrySettings,
    retry_after_secs: float | None = None,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
    ceiling = min(settings.max_backoff_secs, settings.initial_backoff_secs * 2 ** (attempt - 1))
    delay = draw() * ceiling
    if retry_after_secs is not None:
        delay = max(delay, min(retry_after_secs, MAX_RETRY_AFTER_SECS))
    return delay


def exhausted(attempts: int, settings: RetrySettings) -> bool:
    """Whether an item that has been tried ``attempts`` times may not be tried again."""
    return attempts >= settings.max_attempts
