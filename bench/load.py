"""The load generators: ``wrk`` with bench/collect.lua, or the asyncio fallback bench/pyload.py.

Both are closed-loop (each connection sends its next request when the previous answer
arrived), both run in their own process, and both end with a ``BENCH_JSON`` line that
``run_load`` turns into a ``LoadResult``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from procs import ProcessGroup

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "collect.lua"
PY_LOADGEN = HERE / "pyload.py"


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    tool: str
    connections: int
    duration_secs: float
    statuses: dict[str, int]
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    #: CPU seconds the load generator itself used (user + system)
    loadgen_cpu_secs: float

    @property
    def accepted(self) -> int:
        """Responses with status 204."""
        return self.statuses.get("204", 0)

    @property
    def non_204(self) -> dict[str, int]:
        """Responses with any other status, by status."""
        return {s: n for s, n in sorted(self.statuses.items()) if s != "204"}

    @property
    def socket_errors(self) -> int:
        """Connect, read, write errors and timeouts."""
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        """Accepted events per second."""
        return self.accepted / self.duration_secs if self.duration_secs else 0.0


def ensure_wrk(install: bool) -> str | None:
    """The path of ``wrk``; install the Debian package with apt-get if missing and allowed."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        print("wrk not found and apt-get is not available", flush=True)
        return None
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            print("wrk not found; installing it needs root (no sudo)", flush=True)
            return None
        prefix = [sudo, "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("wrk not found: installing the Debian package `wrk` with apt-get", flush=True)
    install_cmd = [*prefix, apt, "install", "-y", "-q", "--no-install-recommends", "wrk"]
    done = subprocess.run(install_cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print("apt-get install failed; running apt-get update and trying again", flush=True)
        subprocess.run([*prefix, apt, "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install_cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"apt-get install wrk failed:\n{done.stderr.strip()[-2000:]}", flush=True)
        return None
    return shutil.which("wrk")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load(
    *,
    wrk: str | None,
    port: int,
    connections: int,
    duration_secs: float,
    body_file: Path,
    tag: str,
    headers: list[str],
    procs: ProcessGroup,
    log_dir: Path,
    threads: int = 1,
    timeout_secs: float = 10.0,
) -> LoadResult:
    """Load ``POST /collect`` on 127.0.0.1:``port`` and return what was measured."""
    if wrk is not None:
        tool = "wrk"
        cmd = [
            wrk,
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{duration_secs:g}s",
            f"--timeout={timeout_secs:g}s",
            "-s",
            str(LUA_SCRIPT),
            f"http://127.0.0.1:{port}/collect",
            "--",
            str(body_file),
            tag,
            *headers,
        ]
    else:
        tool = "python"
        cmd = [
            sys.executable,
            str(PY_LOADGEN),
            f"--port={port}",
            f"--connections={connections}",
            f"--duration={duration_secs:g}",
            f"--body-file={body_file}",
            f"--tag={tag}",
            f"--timeout={timeout_secs:g}",
            *(f"--header={h}" for h in headers),
        ]
    out_path = log_dir / f"load-{tag}.out"
    cpu_before = _children_cpu()
    with out_path.open("w") as out:
        proc = procs.start(tag, cmd, stdout=out, stderr=subprocess.STDOUT)
        code = procs.wait(proc, timeout=duration_secs + timeout_secs + 30)
    cpu = _children_cpu() - cpu_before
    text = out_path.read_text()
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if code != 0 or line is None:
        raise RuntimeError(f"{tool} exited {code} without a result:\n{text[-2000:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    lat = data["latency_us"]
    return LoadResult(
        tool=tool,
        connections=connections,
        duration_secs=data["duration_us"] / 1e6,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        errors={str(k): int(v) for k, v in data["errors"].items()},
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        mean_ms=float(lat["mean"]) / 1000,
        loadgen_cpu_secs=cpu,
    )
