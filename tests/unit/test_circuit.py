"""The circuit breaker's states: closed, open after repeated failures, half-open probe,
cool-down doubling up to its cap, reset on success."""

from __future__ import annotations

from destinations.base import CircuitSettings
from gateway.delivery.circuit import Circuit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def circuit(
    failures: int = 3, cooldown: float = 10, max_cooldown: float = 35
) -> tuple[Circuit, Clock]:
    clock = Clock()
    settings = CircuitSettings(
        failures=failures, cooldown_secs=cooldown, max_cooldown_secs=max_cooldown
    )
    return Circuit(settings, clock), clock


def test_opens_after_consecutive_failures_only() -> None:
    """Failures in a row open it; a success in between starts the count again."""
    breaker, _ = circuit(failures=3)
    assert [breaker.record(False), breaker.record(False)] == [None, None]
    assert breaker.record(True) is None
    assert breaker.wait_secs() == 0
    assert [breaker.record(False), breaker.record(False)] == [None, None]
    assert breaker.record(False) == "open"
    assert breaker.wait_secs() == 10


def test_half_open_after_cooldown_sends_one_probe() -> None:
    """After the cool-down the next request is a probe; success closes the circuit."""
    breaker, clock = circuit(failures=1)
    breaker.record(False)
    clock.now += 4
    assert breaker.wait_secs() == 6 and not breaker.probing
    clock.now += 6
    assert breaker.wait_secs() == 0 and breaker.probing and breaker.state == "half_open"
    assert breaker.record(True) == "closed"
    assert not breaker.probing and breaker.wait_secs() == 0


def test_failed_probes_double_the_cooldown_up_to_the_cap() -> None:
    """Each failed probe reopens for twice as long, capped; success resets it."""
    breaker, clock = circuit(failures=1, cooldown=10, max_cooldown=35)
    breaker.record(False)
    waits = []
    for _ in range(4):
        clock.now += breaker.wait_secs()
        assert breaker.wait_secs() == 0 and breaker.probing
        assert breaker.record(False) == "open"
        waits.append(breaker.wait_secs())
    assert waits == [20, 35, 35, 35]
    clock.now += 35
    breaker.wait_secs()
    breaker.record(True)
    breaker.record(False)
    assert breaker.wait_secs() == 10


def test_failures_while_open_do_not_extend_it() -> None:
    """Results of requests already in flight when it opened change nothing."""
    breaker, clock = circuit(failures=1)
    breaker.record(False)
    clock.now += 5
    assert breaker.record(False) is None
    assert breaker.wait_secs() == 5
