"""How fast the machine is on the day, read once at the start of every run.

Absolute figures drift with the neighbours' load; these two readings say how much. dcmtk's
``dcmdump`` reading the headers of small synthetic files in one process stands for anything
CPU-bound outside Python; the bare Django page (``bench/urls.py``) served by gunicorn with two
sync workers stands for the web side. Neither is a figure with a target: they are context.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import time

from . import database, load
from .processes import PYTHON, free_port, wait_http
from .studies import Sizes, write_studies
from .tools import ensure_command

CALIBRATION = Sizes(mr_slices=300, mr_side=64, ct_slices=2, ct_side=16, mg_rows=16, mg_columns=16)
BARE = "/bench/bare/"

_state: dict[int, dict] = {}  # per workspace: calibration files, the server, the tools


def _prepared(workspace, options) -> dict:
    state = _state.get(id(workspace))
    if state is not None:
        return state
    state = {}
    dcmdump, why = ensure_command("dcmdump", "dcmtk", install=options.install)
    state["dcmdump"], state["dcmdump_why"] = dcmdump, why
    if dcmdump:
        study = write_studies(workspace.folder("speed"), CALIBRATION, ("mr",))[0]
        state["files"] = [str(path) for path in sorted(study.files)]
    database.setup(workspace)
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "secondopinion.wsgi:application"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"]
    argv += ["--no-control-socket"]
    server = workspace.start("gunicorn-speed", argv, env=database.python_env())
    wait_http(server, port, "/healthz")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", BARE)
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{BARE} answered {response.status}")
    wrk, _ = ensure_command("wrk", "wrk", install=options.install)
    state.update(port=port, server=server, wrk=wrk)
    _state[id(workspace)] = state
    workspace.on_close(lambda: _state.pop(id(workspace), None))
    return state


def _dcmdump_files_per_s(dcmdump: str, files: list[str]) -> float:
    argv = [dcmdump, "-q", "-M", "+sb", "7fe0,0010", *files]
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        rates.append(len(files) / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(results, workspace, options) -> None:
    state = _prepared(workspace, options)
    if state["dcmdump"]:
        rate = _dcmdump_files_per_s(state["dcmdump"], state["files"])
        results.record_speed(
            "dcmdump_files_per_s",
            rate,
            "files/s",
            f"dcmdump -M +sb 7fe0,0010, 1 process, {len(state['files'])} files (median of 3)",
        )
    else:
        results.note(f"machine speed: {state['dcmdump_why']}")
    url = f"http://127.0.0.1:{state['port']}{BARE}"
    seconds = 1.0 if options.quick else 3.0
    if state["wrk"]:
        load.with_wrk(state["wrk"], url, "", 1.0)  # warm both workers
        measured, how = load.with_wrk(state["wrk"], url, "", seconds), "wrk"
    else:
        load.with_python(url, "", 1.0)
        measured, how = load.with_python(url, "", seconds), "python generator"
    if measured.errors:
        raise RuntimeError(f"{BARE}: {measured.errors} failed requests")
    results.record_speed(
        "bare_page_req_per_s",
        measured.requests_per_s,
        "req/s",
        f"{BARE} via gunicorn, 2 sync workers, {how}, {load.CONNECTIONS} connections",
    )
