"""Process groups read from /proc and stopped: shared by the benchmarks, the tests' real workers
and `manage.py up`.

A server started with its own process group (``start_new_session=True`` or ``process_group=0``)
takes its children along in the group, so stopping the group leaves nothing behind, even children
a killed parent orphaned. Plain standard library: no Django here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

POLL_INTERVAL = 0.05


def _live_processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command name) of every live process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if fields[0] != "Z":
            yield int(stat.parent.name), fields


def child_pids(parent: int) -> list[int]:
    """The live processes whose parent is `parent`, sorted."""
    return sorted(pid for pid, fields in _live_processes() if int(fields[1]) == parent)


def group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid`."""
    return [pid for pid, fields in _live_processes() if int(fields[3]) == pgid]


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def kill_group(pgid: int, *, within: float) -> list[int]:
    """SIGKILL process group `pgid` until none of it is left, giving up after `within` seconds.

    Returns the processes that survived (none, unless it gave up).
    """
    deadline = time.monotonic() + within
    while group_members(pgid):
        if not signal_group(pgid, signal.SIGKILL):
            return []
        if time.monotonic() > deadline:
            return group_members(pgid)
        time.sleep(POLL_INTERVAL)
    return []


def stop_group(process: subprocess.Popen, *, within: float) -> list[int]:
    """Stop a process that leads its own group: SIGTERM to it and up to `within` seconds to end,
    then SIGKILL for what is left of the group (`kill_group`, `within` seconds more).

    Returns the processes that survived. The caller still waits for (reaps) `process`.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=within)
    return kill_group(process.pid, within=within)
