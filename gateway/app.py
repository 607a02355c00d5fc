"""The ASGI app: routes, and the runtime that owns the policy, the queue and the workers.

Start-up opens the queue, starts one delivery worker per destination that has its
credentials, and reports (once) each destination that does not: its events are queued
and shown in ``gateway_queue_depth``, not sent and not dropped. ``reload`` validates a
new config and swaps it in only if it is valid: a bad reload never replaces a good one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import structlog
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.config.compile import Policy, compile_policy
from gateway.config.loader import load_config
from gateway.config.models import Config
from gateway.decision_log import DecisionLog
from gateway.delivery.worker import DestinationWorker
from gateway.endpoints.collect import collect
from gateway.endpoints.health import healthz, readyz
from gateway.endpoints.metrics import metrics
from gateway.endpoints.pixel import pixel
from gateway.errors import ConfigError, QueueError
from gateway.metrics import Metrics
from gateway.queue.base import Store
from gateway.queue.factory import open_store
from gateway.queue.sqlite import SqliteStore

log = structlog.get_logger("gateway")

RECORD_PURGE_INTERVAL_SECS = 3600.0


class Runtime:
    """Everything the endpoints and workers share; one per app."""

    def __init__(self, config: Config, config_path: str | None = None) -> None:
        self.config_path = config_path
        self.policy: Policy = compile_policy(config)
        self.store: Store = open_store(config.queue)
        self.metrics = Metrics()
        self.metrics.queue.depth = self.store.depth
        self.metrics.queue.dead = self.store.dead_letter_count
        self.metrics.queue.unconfigured = self._configured
        if isinstance(store := self.store, SqliteStore):
            self.metrics.queue.commits = lambda: store.commits
        self.decisions = DecisionLog()
        self.client: httpx.AsyncClient | None = None
        self.workers: dict[str, DestinationWorker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._purger: asyncio.Task[None] | None = None

    def _configured(self) -> dict[str, int]:
        return {name: int(name in self.workers) for name in self.policy.destinations}

    async def start(self) -> None:
        """Open the queue and start delivering."""
        await self.store.start()
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )
        self._start_workers()
        self._purger = asyncio.create_task(self._purge_consent_records(), name="purge-records")
        log.info("gateway_started", destinations=sorted(self.policy.destinations))

    async def _purge_consent_records(self) -> None:
        """Drop consent records past their retention, at start and then hourly."""
        while True:
            days = self.policy.config.consent.records.retention_days
            before = int(time.time() * 1000) - days * 86_400_000
            try:
                purged = await self.store.purge_consent_records(before)
            except QueueError as err:
                log.warning("consent_records_purge_failed", error=str(err))
            else:
                if purged:
                    log.info("consent_records_purged", count=purged, retention_days=days)
            await asyncio.sleep(RECORD_PURGE_INTERVAL_SECS)

    def _start_workers(self) -> None:
        assert self.client is not None
        lease_secs = self.policy.config.queue.lease_secs
        for name, destination in self.policy.destinations.items():
            if not destination.settings.enabled:
                log.info("destination_disabled", destination=name)
                continue
            if missing := destination.missing_credentials():
                log.warning(
                    "destination_unconfigured",
                    destination=name,
                    missing=missing,
                    note="events are queued and kept until credentials are set",
                )
                continue
            worker = DestinationWorker(
                destination, self.store, self.client, self.metrics, lease_secs
            )
            self.workers[name] = worker
            self._tasks.append(asyncio.create_task(worker.run(), name=f"deliver:{name}"))

    async def _stop_workers(self) -> None:
        """Let each worker finish its batch in flight, within the grace period; cancel
        what is still sending then (its items are made due again)."""
        tasks, self._tasks = self._tasks, []
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.policy.config.server.shutdown_grace_secs)
        for task in late:
            task.cancel()
        if late:
            log.warning("delivery_interrupted", destinations=sorted(t.get_name() for t in late))
            await asyncio.wait(late)

    async def stop(self) -> None:
        """Stop delivering, close the client, then the queue (pending writes finish)."""
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
            self._purger = None
        await self._stop_workers()
        self.decisions.flush()
        if self.client is not None:
            await self.client.aclose()
        await self.store.close()
        log.info("gateway_stopped")

    async def reload(self) -> bool:
        """Load the config file again; swap it in only if valid. Returns whether it was."""
        if self.config_path is None:
            return False
        try:
            config = load_config(self.config_path)
        except ConfigError as err:
            log.error(
                "config_reload_refused",
                problems=[str(p) for p in err.problems],
                note="the running config is kept",
            )
            return False
        if config.queue != self.policy.config.queue:
            log.warning("config_reload_queue_unchanged", note="queue settings need a restart")
        self.policy = compile_policy(config.model_copy(update={"queue": self.policy.config.queue}))
        await self._stop_workers()
        self._start_workers()
        log.info("config_reloaded", destinations=sorted(self.policy.destinations))
        return True


def create_app(config: Config, config_path: str | None = None) -> Starlette:
    """The gateway's ASGI app for ``config``."""
    runtime = Runtime(config, config_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = Starlette(
        routes=[
            Route("/collect", collect, methods=["POST"]),
            Route("/p.gif", pixel, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
