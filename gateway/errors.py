"""The gateway's exception tree.

Every exception the gateway raises on purpose derives from ``GatewayError``::

    GatewayError
    ├── ConfigError            the config cannot be loaded; carries every Problem found
    ├── InputError             a request body or query is not a valid event; carries details
    │   └── BodyTooLarge       the body exceeds ``server.max_body_bytes``
    └── QueueError             the queue cannot take the event
        ├── QueueFull          a configured bound (rows or bytes) is reached
        └── QueueUnavailable   the store cannot write (disk full, I/O error, closed)

Endpoints map ``InputError`` to 400/413/415 and ``QueueError`` to 503 with ``Retry-After``;
anything else is a bug and is answered 500 by the framework (a test sends hostile input
to make sure that never happens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One config problem: where it is and what is wrong, never the offending value."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path or '<root>'}: {self.message}"


class ConfigError(GatewayError):
    """The config is invalid; ``problems`` lists every problem, sorted by file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class InputDetail:
    """One thing wrong with a request: a location inside the body and a message."""

    loc: tuple[str | int, ...]
    msg: str

    def as_json(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg}


@dataclass
class InputError(GatewayError):
    """The request is not a valid event or batch of events."""

    error: str
    details: list[InputDetail] = field(default_factory=list)
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(self.error)


class BodyTooLarge(InputError):
    """The request body is over the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes", [], 413)


class QueueError(GatewayError):
    """The queue cannot accept events right now; the client should retry later (after
    ``queue.retry_after_secs``, which the endpoint sends as ``Retry-After``)."""

    reason: str = "queue_unavailable"


class QueueFull(QueueError):
    """A configured queue bound is reached."""

    reason = "queue_full"


class QueueUnavailable(QueueError):
    """The store cannot write (disk full, I/O error, closed)."""

    reason = "queue_unavailable"
