"""README's first command: the whole app on the embedded default (SQLite, files, file broker)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
        return response.status, response.read()


def test_up_runs_web_and_worker_with_no_server_and_stops_on_ctrl_c(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY")
    }
    env["VAR_DIR"] = str(tmp_path / "var")
    port = free_port()
    log = (tmp_path / "up.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline:
            try:
                health = _get(f"http://127.0.0.1:{port}/healthz")
                if "ready." in (tmp_path / "up.log").read_text():
                    break
            except OSError:
                pass
            time.sleep(0.5)
        output = (tmp_path / "up.log").read_text()
        assert health is not None, output
        assert json.loads(health[1]) == {
            "status": "ok",
            "checks": {"database": "ok", "broker": "ok", "storage": "ok"},
        }
        assert "patient@example.com" in output  # the demo logins are printed
        assert "ready." in output, output  # the Celery worker came up
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and b"Have an expert look at your actual scan" in page
        status, css = _get(f"http://127.0.0.1:{port}/static/css/app.css")
        assert status == 200 and b"SecondOpinion" in css
        assert (tmp_path / "var" / "db.sqlite3").exists()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _session_processes(process.pid) == [], "web or worker still running after Ctrl-C"


def _session_processes(session: int) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-s", str(session)], capture_output=True, text=True)
    return found.stdout.splitlines()
