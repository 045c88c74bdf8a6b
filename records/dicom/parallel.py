"""``inspect_files``: the files of a large folder inspected by forked processes, one per core."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from dataclasses import dataclass
from pathlib import Path

from records.dicom.inspect import inspect_file
from records.dicom.results import PARALLEL_FROM, FileResult


def inspect_files(files: list[tuple[Path, str]], *, processes: int) -> list[FileResult]:
    """``inspect_file`` over ``(path, rel_path)`` pairs, results in the same order.

    Header parsing is CPU-bound Python, so a large folder is shared out: this process reads one
    share and forks a helper for each other one (forked: it starts in a millisecond with
    everything imported, and only reads files). ``os.fork`` rather than ``multiprocessing``,
    whose pools refuse to start inside Celery's (daemonic) prefork children. A helper that dies
    fails the whole check, as a crash of the worker itself would.
    """
    if processes <= 1 or len(files) < PARALLEL_FROM:
        return [inspect_file(path, rel_path=rel) for path, rel in files]
    helpers: list[_Helper] = []
    try:
        for share in range(1, processes):
            helpers.append(_Helper.fork(files[share::processes]))
        results: list[FileResult] = [None] * len(files)  # type: ignore[list-item]
        results[0::processes] = [
            inspect_file(path, rel_path=rel) for path, rel in files[0::processes]
        ]
        for share, helper in enumerate(helpers, start=1):
            results[share::processes] = helper.results()
        return results
    finally:
        for helper in helpers:
            helper.end()


@dataclass(slots=True)
class _Helper:
    """A forked process inspecting a share of the files; it sends back the results pickled."""

    pid: int
    pipe: int
    done: bool = False

    @classmethod
    def fork(cls, files: list[tuple[Path, str]]) -> _Helper:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper: never returns, never runs its parent's cleanup
            status = 1
            try:
                os.close(read)
                try:
                    outcome: object = [inspect_file(path, rel_path=rel) for path, rel in files]
                except OSError as exc:  # an infrastructure error: the parent raises it
                    outcome = exc
                with os.fdopen(write, "wb") as out:
                    pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        return cls(pid, read)

    def results(self) -> list[FileResult]:
        with os.fdopen(self.pipe, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        if status or not data:
            raise ChildProcessError(f"a process inspecting files ended with status {status}")
        outcome = pickle.loads(data)  # noqa: S301 (written by our own forked process)
        if isinstance(outcome, OSError):
            raise outcome
        return outcome

    def end(self) -> None:
        """Stop and reap a helper whose results were not collected (the parent failed)."""
        if self.done:
            return
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):  # already closed if reading it failed
            os.close(self.pipe)
