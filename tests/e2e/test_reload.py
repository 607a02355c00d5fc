"""SIGHUP reloads the config: validate, then swap; a bad file never replaces a good one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.support.configs import base_config, merged, write_config
from tests.support.process import gateway_process
from tests.support.server import free_port

BATCH = {"events": [{"event": "page_view"}, {"event": "page_view"}]}


def wait_for_log(log: Path, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.05)


def test_sighup_swaps_a_valid_config_and_keeps_the_running_one_on_errors(tmp_path: Path) -> None:
    """A broken file on SIGHUP is refused (logged with its problems) and the gateway goes
    on with its config; a valid one takes effect without a restart."""
    port = free_port()
    data = base_config(tmp_path / "queue.db")
    config = write_config(tmp_path / "gateway.yaml", data)
    log = tmp_path / "gateway.log"
    url = f"http://127.0.0.1:{port}/collect"
    with gateway_process(config, port, log) as proc:
        assert httpx.post(url, json=BATCH).status_code == 204

        config.write_text(config.read_text() + "\nbogus_key: 1\n")
        os.kill(proc.pid, signal.SIGHUP)
        wait_for_log(log, "config_reload_refused")
        assert "bogus_key: unknown key" in log.read_text()
        assert httpx.post(url, json=BATCH).status_code == 204
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200

        write_config(config, merged(data, {"server": {"max_events_per_request": 1}}))
        os.kill(proc.pid, signal.SIGHUP)
        wait_for_log(log, "config_reloaded")
        response = httpx.post(url, json=BATCH)
        assert response.status_code == 400
        assert response.json()["detail"][0]["msg"] == "at most 1 events per request"
