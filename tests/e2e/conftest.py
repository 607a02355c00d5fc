"""Fixtures for end-to-end tests: a fake platform, and the gateway served over real HTTP."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import logs
from gateway.app import Runtime, create_app
from gateway.config.loader import load_config
from tests.support.configs import base_config, merged, write_config
from tests.support.fake_platform import FakePlatform
from tests.support.server import serve


@dataclass
class Gateway:
    """A running gateway: its URL, runtime and captured log output."""

    url: str
    runtime: Runtime
    log: io.StringIO

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform().start()
    yield platform
    platform.stop()


@pytest.fixture
def gateway_factory(
    tmp_path: Path, fake: FakePlatform
) -> Callable[..., AbstractContextManager[Gateway]]:
    """Start a gateway with ``base_config`` plus overrides, delivering to ``fake``."""

    @contextmanager
    def start(overrides: dict[str, Any] | None = None) -> Iterator[Gateway]:
        data = merged(base_config(tmp_path / "queue.db", fake.url), overrides or {})
        path = write_config(tmp_path / "gateway.yaml", data)
        buffer = io.StringIO()
        logs.configure("debug", stream=buffer)
        app = create_app(load_config(str(path), env={}), str(path))
        with serve(app) as url:
            yield Gateway(url, app.state.runtime, buffer)

    return start


@pytest.fixture
def gateway(gateway_factory: Callable[..., AbstractContextManager[Gateway]]) -> Iterator[Gateway]:
    with gateway_factory() as gw:
        yield gw
