"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.worker import RecordingStore

pytest_plugins = ["tests.support.redis_server"]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RecordingStore]:
    """A started ``RecordingStore`` over a fresh SQLite file."""
    s = RecordingStore(str(tmp_path / "q.db"), max_rows=100_000, max_bytes=100_000_000)
    await s.start()
    yield s
    await s.close()
