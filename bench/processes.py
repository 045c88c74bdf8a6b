"""Servers the benchmarks start (gunicorn, celery, moto) and the temporary files they leave.

Every process runs in its own session (process group), so stopping it reaches its children too
(gunicorn's and celery's workers); everything is stopped and removed when the run ends, however
it ends.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from secondopinion.processes import child_pids, stop_group

# The environment the run was started with, before bench.database adds the application's.
ORIGINAL_ENV = dict(os.environ)
ROOT = Path(__file__).absolute().parent.parent  # not resolve(): a symlinked checkout stays itself
PYTHON = sys.executable
STOP_TIMEOUT = 15.0


class Server:
    """One started process (and its process group), logging to a file."""

    def __init__(self, name: str, argv: Sequence[str], *, env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, list(argv), env, log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def children(self) -> list[int]:
        """Processes whose parent is this one (gunicorn's or celery's workers)."""
        return child_pids(self.pid)

    def stop(self) -> None:
        stop_group(self.process, within=STOP_TIMEOUT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)


class Workspace:
    """The run's temporary folder and started servers; ``close()`` removes and stops them."""

    def __init__(self, keep: bool = False) -> None:
        base = os.environ.get("BENCH_TMPDIR") or None
        self.root = Path(tempfile.mkdtemp(prefix="so-bench-", dir=base))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.keep = keep
        self.servers: list[Server] = []
        self._cleanups: list[Callable[[], None]] = []

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str]) -> Server:
        server = Server(name, argv, env=env, log=self.logs / f"{name}.log")
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def on_close(self, action: Callable[[], None]) -> None:
        self._cleanups.append(action)

    def close(self) -> None:
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):
                server.stop()
        self.servers.clear()
        for action in reversed(self._cleanups):
            try:
                action()
            except Exception as exc:  # cleanup goes on; say what was left behind
                print(f"bench: cleanup step failed: {exc!r}", file=sys.stderr)
        self._cleanups.clear()
        if self.keep:
            print(f"bench: kept {self.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(server: Server, port: int, path: str = "/", timeout: float = 60.0) -> None:
    """Wait until something answers HTTP on 127.0.0.1:port (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited at start-up:\n{server.tail()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s:\n{server.tail()}")


def wait_log(server: Server, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.tail(200):
            return
        if not server.alive():
            raise RuntimeError(f"{server.name} exited at start-up:\n{server.tail()}")
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} was not ready within {timeout:.0f} s:\n{server.tail()}")
