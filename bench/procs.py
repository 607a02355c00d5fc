"""Subprocess bookkeeping for the benchmark, and what /proc says about a process.

Every child is started in a session of its own (so a Ctrl-C in the terminal reaches only
the benchmark, which then stops the children in order) and registered in a
``ProcessGroup``; ``ProcessGroup.stop_all`` sends SIGTERM, waits, then SIGKILLs what is
left, and runs on every exit path of bench/run.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProcessGroup:
    """The children of the benchmark; stop them all with ``stop_all``."""

    def __init__(self) -> None:
        self._procs: dict[int, tuple[str, subprocess.Popen[Any]]] = {}

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
        cwd: str | None = None,
    ) -> subprocess.Popen[Any]:
        """Start ``cmd`` in a new session and remember it."""
        proc = subprocess.Popen(
            list(cmd),
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
        self._procs[proc.pid] = (name, proc)
        return proc

    def wait(self, proc: subprocess.Popen[Any], timeout: float) -> int:
        """Wait for ``proc`` to exit by itself (stopping it after ``timeout``)."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = self.stop(proc)
        self._procs.pop(proc.pid, None)
        return code

    def stop(self, proc: subprocess.Popen[Any], grace_secs: float = 15.0) -> int:
        """SIGTERM ``proc``'s process group, SIGKILL it after ``grace_secs``; the exit code."""
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_secs)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self._procs.pop(proc.pid, None)
        return proc.returncode

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        for _pid, (_name, proc) in reversed(list(self._procs.items())):
            try:
                self.stop(proc, grace_secs=10.0)
            except Exception as err:  # keep stopping the others
                print(f"could not stop {_name} (pid {_pid}): {err}", flush=True)
        self._procs.clear()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # the child leads its own session, so its process group id is its pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request with the standard library; ``(status, body)``, errors raise ``OSError``."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


def wait_until_ready(
    proc: subprocess.Popen[Any],
    probe: Any,
    timeout_secs: float,
    what: str,
) -> None:
    """Call ``probe()`` until it returns True; fail if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready after {timeout_secs:g}s")


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds (user + system) of a process: all threads, and its main thread."""

    total: float
    main_thread: float


def cpu_times(pid: int) -> CpuTimes:
    """From /proc/<pid>/stat and /proc/<pid>/task/<pid>/stat."""

    def read(path: str) -> float:
        with open(path) as file:
            fields = file.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    return CpuTimes(read(f"/proc/{pid}/stat"), read(f"/proc/{pid}/task/{pid}/stat"))


def status_kib(pid: int, key: str) -> int | None:
    """A ``kB`` value of /proc/<pid>/status, e.g. ``VmHWM`` (peak RSS) or ``VmRSS``."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name == key:
                    return int(value.split()[0])
    except OSError:
        return None
    return None


def thread_count(pid: int) -> int:
    """Threads of the process now."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def maps_mention(pid: int, needle: str) -> bool:
    """Whether a file mapped into the process has ``needle`` in its path (a loaded library)."""
    try:
        with open(f"/proc/{pid}/maps") as file:
            return any(needle in line for line in file)
    except OSError:
        return False


def filesystem_of(path: str) -> str:
    """``<mount point> (<type>, <device>)`` of the file system holding ``path``."""
    real = os.path.realpath(path)
    best = ("", "?", "?")
    try:
        with open("/proc/mounts") as file:
            for line in file:
                device, mount, fstype = line.split()[:3]
                inside = real == mount or real.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[0]):
                    best = (mount, fstype, device)
    except OSError:
        return "unknown"
    return f"{best[0]} ({best[1]}, {best[2]})"


def machine_busy_secs() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as file:
        fields = [int(v) for v in file.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time
    busy = sum(fields[:8]) - idle
    return busy / _CLK_TCK


def own_cpu_secs() -> float:
    """CPU seconds of this process (all its threads, e.g. the fake Meta)."""
    times = os.times()
    return times.user + times.system


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so a stopped benchmark still runs
    its ``finally`` blocks and stops its children."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


def clean_up(procs: ProcessGroup, tmp: Path, keep: bool) -> None:
    """End of a benchmark: ignore further interrupts while every child is stopped, then
    remove the temporary directory unless it is to be kept (say where it is then)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    procs.stop_all()
    if keep:
        print(f"temporary files kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
