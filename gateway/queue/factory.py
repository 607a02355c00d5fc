"""The store a config names: the embedded SQLite file or a shared Redis."""

from __future__ import annotations

import os
import socket

from gateway.config.models import QueueConfig
from gateway.queue.base import Store
from gateway.queue.sqlite import SqliteStore


def open_store(queue: QueueConfig) -> Store:
    """A (not yet started) store for the ``queue`` section of a config."""
    if queue.backend == "redis":
        from gateway.queue.redis import RedisStore

        assert queue.url is not None  # the config refuses redis without a url
        return RedisStore(
            queue.url.get_secret_value(),
            prefix=queue.prefix,
            consumer=queue.consumer or default_consumer(),
            max_rows=queue.max_rows,
            max_bytes=queue.max_bytes,
        )
    return SqliteStore(
        queue.path,
        max_rows=queue.max_rows,
        max_bytes=queue.max_bytes,
        synchronous=queue.synchronous,
    )


def default_consumer() -> str:
    """Host name and process id: unique among running gateways, but a restarted process
    gets a new one, so its old leases are reclaimed only once they time out."""
    return f"{socket.gethostname()}-{os.getpid()}"
