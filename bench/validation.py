"""Figure 1: the header validator over a whole study, against bare pydicom, dcmdump and a raw read.

What runs where:

* ``validate_tree`` runs in a process of its own, as in a Celery prefork child: one process per
  contender, kept for the whole run, so each one's peak memory (VmHWM) is its own. The study
  time is that of the product's default (a large folder is shared out to one forked process per
  core; their peak counts too); the per-file rate against the pydicom loop uses one process.
* The per-file rate on both cores maps ``inspect_file`` over a pool of one process per core,
  against dcmtk's ``dcmdump -M +sb 7fe0,0010`` (header only, stop before the pixel data) with
  the same files split over as many processes, each reading its share in one invocation.
* "warm" reads find the files in the page cache (a worker checking files that were just
  uploaded); "cold" ones evict them first with posix_fadvise(DONTNEED).
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from pydicom import dcmread

from records import dicom

from .measure import (
    Figure,
    Results,
    alternate,
    at_least,
    at_most,
    median,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
)
from .studies import Sizes, Study, studies_for, write_studies
from .tools import ensure_command

READ_BUFFER = 1024 * 1024

# --- what runs in the worker processes ------------------------------------------------------

_start_rss = 0.0


def _ready(warm_root: str) -> None:
    """A worker's start: imports done and a two-file study checked (pydicom and the codecs
    load lazily on first use); memory is measured from here."""
    global _start_rss
    dicom.validate_tree(warm_root)
    [dcmread(path, stop_before_pixels=True) for path in sorted(Path(warm_root).rglob("IM*"))]
    _start_rss = rss_mb()


def _run(task: str, arg: object) -> tuple[float, float]:
    """Run one contender in this worker; return (seconds, peak MB above the process's start,
    counting the processes it forked)."""
    reset_peak_rss()
    start = time.perf_counter()
    if task in ("validate", "validate_1"):
        processes = 1 if task == "validate_1" else None
        report = dicom.validate_tree(arg, processes=processes)  # type: ignore[arg-type]
        if not report.valid:
            raise RuntimeError(f"synthetic study judged invalid: {report.to_dict()['problems']}")
    elif task == "pydicom":
        for path in arg:  # type: ignore[attr-defined]
            dcmread(path, stop_before_pixels=True)
    elif task == "raw":
        buffer = bytearray(READ_BUFFER)
        for path in arg:  # type: ignore[attr-defined]
            with open(path, "rb", buffering=0) as handle:
                while handle.readinto(buffer):
                    pass
    else:
        raise ValueError(task)
    elapsed = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, max(peak_rss_mb() - _start_rss, children - _start_rss, 0.0)


def _inspect_share(paths: list[str]) -> int:
    ok = 0
    for path in paths:
        ok += dicom.inspect_file(path).ok
    return ok


# --- in the benchmark process ---------------------------------------------------------------


def evict(paths: list[Path]) -> None:
    """Drop the files from the page cache (written back first, so they can be dropped)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _shares(paths: list[Path], n: int) -> list[list[str]]:
    return [[str(p) for p in paths[i::n]] for i in range(n)]


class _Workers:
    def __init__(self, warm_root: Path, cores: int) -> None:
        spawn = get_context("spawn")  # a fresh interpreter: its memory is the worker's own
        make = lambda n: ProcessPoolExecutor(  # noqa: E731
            max_workers=n, mp_context=spawn, initializer=_ready, initargs=(str(warm_root),)
        )
        self.ours, self.pydicom, self.raw = make(1), make(1), make(1)
        self.pool = make(cores)
        self.cores = cores

    def run(self, executor: Executor, task: str, arg: object) -> tuple[float, float]:
        return executor.submit(_run, task, arg).result()

    def close(self) -> None:
        for executor in (self.ours, self.pydicom, self.raw, self.pool):
            executor.shutdown(wait=True, cancel_futures=True)


def run(results: Results, workspace, options) -> None:
    sizes = options.sizes
    cores = os.cpu_count() or 1
    studies = studies_for(workspace, sizes)
    warm = write_studies(
        workspace.folder("warm-up"),
        Sizes(mr_slices=2, mr_side=16, ct_slices=2, ct_side=16, mg_rows=16, mg_columns=16),
        ("mr",),
    )[0]
    dcmdump, why = ensure_command("dcmdump", "dcmtk", install=options.install)
    if dcmdump is None:
        results.note(f"dcmdump baseline skipped: {why}")
    workers = _Workers(warm.root, cores)
    try:
        for study in studies:
            _study(results, workers, study, dcmdump, options.rounds)
    finally:
        workers.close()


def _study(results: Results, workers: _Workers, study: Study, dcmdump: str | None, rounds: int):
    paths = sorted(study.files)
    names = [str(p) for p in paths]
    cores = workers.cores
    shares = _shares(paths, cores)
    peaks: dict[str, list[float]] = {"validate": [], "pydicom": []}

    def single(executor, task, arg, *, cold=False, peak_key=None):
        def contender() -> float:
            if cold:
                evict(paths)
            seconds, peak = workers.run(executor, task, arg)
            if peak_key:
                peaks[peak_key].append(peak)
            return seconds

        return contender

    def pool_inspect() -> float:
        start = time.perf_counter()
        counts = list(workers.pool.map(_inspect_share, shares))
        seconds = time.perf_counter() - start
        if sum(counts) != len(paths):
            raise RuntimeError("the validator rejected synthetic files")
        return seconds

    def dcmdump_share() -> float:
        start = time.perf_counter()
        argv = [dcmdump, "-q", "-M", "+sb", "7fe0,0010"]
        running = [
            subprocess.Popen([*argv, *share], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for share in shares
        ]
        codes = [process.wait() for process in running]
        seconds = time.perf_counter() - start
        if any(codes):
            raise RuntimeError(f"dcmdump failed ({codes})")
        return seconds

    contenders = {
        "validate": single(workers.ours, "validate", str(study.root), peak_key="validate"),
        "validate_1": single(workers.ours, "validate_1", str(study.root), peak_key="validate"),
        "pydicom": single(workers.pydicom, "pydicom", names, peak_key="pydicom"),
        "raw": single(workers.raw, "raw", names),
        "validate_cold": single(workers.ours, "validate", str(study.root), cold=True),
        "raw_cold": single(workers.raw, "raw", names, cold=True),
    }
    many = len(paths) >= 50  # files/s of a 4-image mammogram says nothing
    if many:
        contenders["pool"] = pool_inspect
        if dcmdump:
            contenders["dcmdump"] = dcmdump_share
    samples = alternate(rounds, contenders)
    n, megabytes = len(paths), study.megabytes
    rate = lambda key: [n / s for s in samples[key]]  # noqa: E731
    prefix = f"validation.{study.name}"
    label = f"{study.label}, {n} files, {megabytes:,.0f} MB"
    if many:
        results.add(
            Figure(
                f"{prefix}.files_per_s",
                median(rate("validate_1")),
                "files/s",
                "pydicom dcmread(stop_before_pixels) loop, 1 process",
                median(rate("pydicom")),
                (at_least(0.8),),
                detail=f"validate_tree(processes=1) in 1 worker process; {label}",
                samples=rate("validate_1"),
                baseline_samples=rate("pydicom"),
            )
        )
        baseline = f"dcmdump -M +sb 7fe0,0010, {cores} processes" if dcmdump else "none"
        results.add(
            Figure(
                f"{prefix}.files_per_s_{cores}cores",
                median(rate("pool")),
                "files/s",
                baseline,
                median(rate("dcmdump")) if dcmdump else None,
                (at_least(1.0), at_least(2500, ratio=False, unit="files/s"))
                if dcmdump
                else (at_least(2500, ratio=False, unit="files/s"),),
                detail=f"inspect_file over a pool of {cores} processes; {label}",
                samples=rate("pool"),
                baseline_samples=rate("dcmdump") if dcmdump else [],
            )
        )
    results.add(
        Figure(
            f"{prefix}.study_time",
            median(samples["validate"]),
            "s",
            "raw read of every byte, page cache warm",
            median(samples["raw"]),
            (at_most(3.0),),
            detail=f"validate_tree, one process per core, page cache warm; {label}",
            samples=samples["validate"],
            baseline_samples=samples["raw"],
        )
    )
    results.add(
        Figure(
            f"{prefix}.study_time_cold",
            median(samples["validate_cold"]),
            "s",
            "raw read of every byte, evicted from cache",
            median(samples["raw_cold"]),
            (at_most(3.0),),
            detail="validate_tree, files evicted from the page cache before each round",
            samples=samples["validate_cold"],
            baseline_samples=samples["raw_cold"],
        )
    )
    mb_rate = lambda key: [megabytes / s for s in samples[key]]  # noqa: E731
    results.add(
        Figure(
            f"{prefix}.mb_per_s",
            median(mb_rate("validate")),
            "MB/s",
            "raw read, page cache warm",
            median(mb_rate("raw")),
            (),
            detail="informational: the inverse of study_time",
            samples=mb_rate("validate"),
            baseline_samples=mb_rate("raw"),
        )
    )
    results.add(
        Figure(
            f"{prefix}.peak_memory",
            max(peaks["validate"]),
            "MB",
            "pydicom loop's peak above its start",
            max(peaks["pydicom"]),
            (at_most(64, ratio=False, unit="MB"),),
            detail="highest VmHWM above the worker's RSS at start, over all rounds",
            samples=peaks["validate"],
            baseline_samples=peaks["pydicom"],
        )
    )
