"""README's first command: the whole app on the embedded default (SQLite, files, file broker)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import free_port
from tests.services import real_clock_environment

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
        return response.status, response.read()


def test_up_runs_web_and_worker_with_no_server_and_stops_on_ctrl_c(tmp_path):
    env = {
        k: v
        for k, v in real_clock_environment().items()
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
        _sign_up(f"http://127.0.0.1:{port}", "new.patient@example.com")
        # The confirmation e-mail (printed by the console backend) links where `up` serves.
        link = f"http://127.0.0.1:{port}/accounts/confirm-email/"
        assert _wait_for_text(tmp_path / "up.log", link), (tmp_path / "up.log").read_text()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        stopping = time.monotonic()
        process.wait(timeout=30)
    while _session_processes(process.pid) and time.monotonic() < stopping + 30:
        time.sleep(0.1)
    assert _session_processes(process.pid) == [], "web or worker still running after Ctrl-C"
    assert time.monotonic() - stopping <= 5, "Ctrl-C took more than 5 s to stop everything"


def test_up_on_a_busy_port_says_so_with_the_addr_hint_before_anything_else(tmp_path):
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "up", "--addr", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode != 0
    assert "is running" not in done.stdout
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert f"Port {port} on 127.0.0.1 is already in use" in line
    assert "--addr 127.0.0.1:" in line
    assert not (tmp_path / "var" / "db.sqlite3").exists()  # nothing was set up first


def _sign_up(site: str, email: str) -> None:
    """Sign up through the running site's form, as a browser would (cookie and CSRF token)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(f"{site}/accounts/signup/", timeout=10) as page:
        html = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = {
        "csrfmiddlewaretoken": token,
        "email": email,
        "password1": "a-long-sign-up-password-7",
        "password2": "a-long-sign-up-password-7",
    }
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        f"{site}/accounts/signup/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{site}/accounts/signup/"},
    )
    with opener.open(request, timeout=10) as answer:
        assert answer.status == 200


def _wait_for_text(path: Path, text: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return True
        time.sleep(0.2)
    return False


def _session_processes(session: int) -> list[str]:
    """The processes still alive in the session (a zombie has ended; only its entry is left)."""
    found = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "-s", str(session)], capture_output=True, text=True
    )
    return [line for line in found.stdout.splitlines() if line.split()[1][0] != "Z"]
