"""Figure 1: validating an upload, the product's way, against dcmtk and a raw read on equal terms.

What runs where (every contender in the same alternated rounds of a run):

* ``validate_tree(root)`` with its defaults, as the worker calls it: in a process of its own
  (a Celery prefork child), sharing a large folder out to one forked process per core. Its
  baselines use the SAME number of processes: ``dcmdump -M +sb 7fe0,0010`` (dcmtk, header
  only) over the files split in as many shares, one invocation per share running at once, and
  a raw read of every byte, split the same way over as many forked processes.
* The whole worker task: what the Celery task does for one received upload (lay the files out,
  ``validate_tree``, store previews and rows, move the case on to routing), called in a process
  with Django set up on the run's database. Each round gets a fresh upload of the study,
  prepared outside the clock; the clock covers ``flow.check_upload`` alone.
* Throughput of validation workers: one worker process checking one upload at a time
  (``validate_tree(processes=1)``) against one dcmdump process, and two worker processes each
  checking its own upload at once against two dcmdump processes each reading the whole study.
* Peak memory: the largest sum of the proportional set sizes of the worker and the processes it
  forked, sampled from /proc in a pass of its own after the timed rounds (sampling costs CPU),
  above what the worker held when it was ready (so memory kept from one upload to the next
  counts), and never less than the worker's own high-water mark above its RSS then (a frame
  read and freed between two samples); the baseline is the raw read's tree.

The files are in the page cache (a worker checking files that were just uploaded).
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from records import dicom

from . import database
from .measure import (
    Figure,
    Results,
    TreeMemory,
    alternate,
    at_least,
    at_most,
    median,
    rss_mb,
    tree_pss_mb,
)
from .studies import Sizes, Study, studies_for, write_studies
from .tools import ensure_command

READ_BUFFER = 1024 * 1024
MANY = 50  # files/s of a four-image mammogram says nothing
ROUTED = ("awaiting_insurance", "queued")
# Targets: the product path at or below dcmdump on equal processes; against a raw read of the
# same bytes on equal processes, 1.5x for MR and CT, 3x for the mammogram (four large frames
# that are decoded whole).
RAW_TARGET = {"mr": 1.5, "ct": 1.5, "mg": 3.0}
TASK_RAW_TARGET = 3.0
MEMORY_TARGET_MB = 64

# --- what runs in the worker processes ------------------------------------------------------


def _ready(warm_root: str) -> None:
    """A worker's start: imports done and a two-file study checked (pydicom and the codecs
    load lazily on first use)."""
    dicom.validate_tree(warm_root)


def _ready_django(warm_root: str) -> None:
    import django

    django.setup()
    _ready(warm_root)


def _pid() -> int:
    return os.getpid()


def _read(paths: list[str]) -> None:
    buffer = bytearray(READ_BUFFER)
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            while handle.readinto(buffer):
                pass


def raw_read(paths: list[str], processes: int) -> None:
    """Read every byte, the files shared out to ``processes`` processes as validate_tree shares
    them: this one reads the first share and forks one helper for each other share."""
    helpers = []
    for share in range(1, processes):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _read(paths[share::processes])
                status = 0
            finally:
                os._exit(status)
        helpers.append(pid)
    _read(paths[0::processes])
    for pid in helpers:
        _, status = os.waitpid(pid, 0)
        if status:
            raise ChildProcessError(f"a raw reader ended with status {status}")


def _cpu_seconds() -> float:
    """CPU time (user and system) of this process and of its waited-for children so far."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _run(task: str, arg: object, processes: int | None = None) -> tuple[float, float]:
    """Run one contender in this worker; return its wall seconds and the CPU seconds it and
    the processes it forked used."""
    cpu = _cpu_seconds()
    start = time.perf_counter()
    if task == "validate":
        report = dicom.validate_tree(arg, processes=processes)  # type: ignore[arg-type]
        if not report.valid:
            raise RuntimeError(f"synthetic study judged invalid: {report.to_dict()['problems']}")
    elif task == "raw":
        raw_read(arg, processes or 1)  # type: ignore[arg-type]
    else:
        raise ValueError(task)
    return time.perf_counter() - start, _cpu_seconds() - cpu


def _prepare_upload(study: Study, patient_pk: int) -> int:
    """A submitted case whose upload of ``study`` is received: what the task finds (untimed)."""
    from django.contrib.auth import get_user_model

    from records.services import finish_upload
    from requests_app.services import submit_case

    from .pipeline import _stored_upload

    patient = get_user_model().objects.get(pk=patient_pk)
    case, upload = _stored_upload(study, patient)
    finish_upload(upload, by=patient)
    case.refresh_from_db()
    submit_case(case, by=patient, missing=[])
    return upload.pk


def _worker_task(upload_pk: int) -> float:
    """The Celery task's work for one upload, in this process; its seconds."""
    from records.models import Upload
    from records.tasks import TRANSIENT
    from requests_app import flow
    from requests_app.models import Case

    start = time.perf_counter()
    flow.check_upload(upload_pk, retried_on=TRANSIENT)
    seconds = time.perf_counter() - start
    status = Case.objects.get(uploads__pk=upload_pk).status
    upload = Upload.objects.get(pk=upload_pk)
    if status not in ROUTED:
        raise RuntimeError(f"the synthetic upload ended {upload.status}, its case {status}")
    return seconds


# --- in the benchmark process ---------------------------------------------------------------


class _Workers:
    """Spawned processes, each kept for the whole run: a fresh interpreter is the worker's own."""

    def __init__(self, warm_root: Path, *, django: bool) -> None:
        spawn = get_context("spawn")

        def make(initializer):
            return ProcessPoolExecutor(
                max_workers=1, mp_context=spawn, initializer=initializer, initargs=(str(warm_root),)
            )

        self.ours, self.second, self.raw = make(_ready), make(_ready), make(_ready)
        self.task = make(_ready_django) if django else None
        self.pids = {
            name: executor.submit(_pid).result()
            for name, executor in (("ours", self.ours), ("raw", self.raw))
        }
        # What each held when ready: a peak is measured from here, so that what a worker keeps
        # from one upload to the next (a heap grown for a mammogram's frames) counts.
        self.ready = {name: (tree_pss_mb(pid), rss_mb(pid)) for name, pid in self.pids.items()}

    def close(self) -> None:
        for executor in (self.ours, self.second, self.raw, self.task):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)


def _dcmdump(dcmdump: str, shares: list[list[str]]) -> float:
    """dcmdump over each share at once, one process per share; wall seconds."""
    argv = [dcmdump, "-q", "-M", "+sb", "7fe0,0010"]
    start = time.perf_counter()
    running = [
        subprocess.Popen([*argv, *share], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for share in shares
    ]
    codes = [process.wait() for process in running]
    seconds = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"dcmdump failed ({codes})")
    return seconds


def run(results: Results, workspace, options) -> None:
    cores = len(os.sched_getaffinity(0))  # what validate_tree's default uses
    studies = studies_for(workspace, options.sizes)
    warm = write_studies(
        workspace.folder("warm-up"),
        Sizes(mr_slices=2, mr_side=16, ct_slices=2, ct_side=16, mg_rows=16, mg_columns=16),
        ("mr",),
    )[0]
    dcmdump, why = ensure_command("dcmdump", "dcmtk", install=options.install)
    if dcmdump is None:
        results.note(f"validation: dcmdump baselines skipped: {why}")
    patient_pk = None
    try:
        database.setup(workspace)
        from . import seed

        patient_pk = seed.people().patient.pk
    except Exception as exc:  # no PostgreSQL: the validator's own figures still stand
        results.note(f"validation: worker task rows skipped, no database: {exc!r}")
    workers = _Workers(warm.root, django=patient_pk is not None)
    try:
        for study in studies:
            _study(results, workers, study, dcmdump, options.rounds, cores, patient_pk)
    finally:
        workers.close()
        if patient_pk is not None:
            database.flush_redis()  # the prepared uploads' queued checks: nobody is to run them


def _study(
    results: Results,
    workers: _Workers,
    study: Study,
    dcmdump: str | None,
    rounds: int,
    cores: int,
    patient_pk: int | None,
) -> None:
    names = [str(p) for p in sorted(study.files)]
    n = len(names)
    root = str(study.root)
    shares = [names[i::cores] for i in range(cores)]
    many = n >= MANY

    cpu: dict[str, list[float]] = {"ours": [], "raw": []}

    def in_worker(executor, *args, cpu_key=None):
        def contender() -> float:
            wall, used = executor.submit(_run, *args).result()
            if cpu_key:
                cpu[cpu_key].append(used)
            return wall

        return contender

    def task() -> float:
        upload_pk = workers.task.submit(_prepare_upload, study, patient_pk).result()
        return workers.task.submit(_worker_task, upload_pk).result()

    def two_workers() -> float:
        start = time.perf_counter()
        running = [w.submit(_run, "validate", root, 1) for w in (workers.ours, workers.second)]
        for future in running:
            future.result()
        return time.perf_counter() - start

    contenders = {
        "ours": in_worker(workers.ours, "validate", root, None, cpu_key="ours"),
        "raw": in_worker(workers.raw, "raw", names, cores, cpu_key="raw"),
    }
    if dcmdump:
        contenders["dcmdump"] = lambda: _dcmdump(dcmdump, shares)
    if workers.task is not None:
        contenders["task"] = task
    if many:
        contenders["ours_1"] = in_worker(workers.ours, "validate", root, 1)
        contenders["ours_2"] = two_workers
        if dcmdump:
            contenders["dcmdump_1"] = lambda: _dcmdump(dcmdump, [names])
            contenders["dcmdump_2"] = lambda: _dcmdump(dcmdump, [names, names])
    samples = alternate(rounds, contenders)

    peaks: dict[str, list[float]] = {"ours": [], "raw": []}
    for _ in range(2):  # a pass of its own: sampling /proc costs CPU the timed rounds must not pay
        for name, args in (("ours", ("validate", root, None)), ("raw", ("raw", names, cores))):
            executor = workers.ours if name == "ours" else workers.raw
            with TreeMemory(workers.pids[name], since=workers.ready[name]) as memory:
                executor.submit(_run, *args).result()
            peaks[name].append(memory.above_start_mb)

    prefix = f"validation.{study.name}"
    label = f"{study.label}, {n} files, {study.megabytes:,.0f} MB, page cache warm"
    product = f"validate_tree(root) with its defaults ({cores} processes); {label}"
    ours = samples["ours"]
    results.add(
        Figure(
            f"{prefix}.study_time_vs_raw",
            median(ours),
            "s",
            f"raw read of every byte, {cores} processes",
            median(samples["raw"]),
            (at_most(RAW_TARGET[study.name]),),
            detail=product,
            samples=ours,
            baseline_samples=samples["raw"],
        )
    )
    ours_cpu, raw_cpu = cpu["ours"][1:], cpu["raw"][1:]  # the warm-up round left out
    results.add(
        Figure(
            f"{prefix}.study_cpu_vs_raw",
            median(ours_cpu),
            "CPU s",
            f"raw read of every byte, {cores} processes, CPU seconds",
            median(raw_cpu),
            (),
            detail=(
                "informational: CPU seconds (user + system) of the worker and its forked helpers "
                "in the same rounds: what the check costs, where wall time also says how the "
                f"neighbours' load shared the cores out; {product}"
            ),
            samples=ours_cpu,
            baseline_samples=raw_cpu,
        )
    )
    if dcmdump:
        results.add(
            Figure(
                f"{prefix}.study_time_vs_dcmdump",
                median(ours),
                "s",
                f"dcmdump -M +sb 7fe0,0010, {cores} processes",
                median(samples["dcmdump"]),
                (at_most(1.0),),
                detail=product,
                samples=ours,
                baseline_samples=samples["dcmdump"],
            )
        )
    if "task" in samples:
        detail = (
            "the Celery task's work in process: lay out, validate_tree, previews, rows, "
            f"routing (flow.check_upload); {label}"
        )
        results.add(
            Figure(
                f"{prefix}.worker_task_vs_raw",
                median(samples["task"]),
                "s",
                f"raw read of every byte, {cores} processes",
                median(samples["raw"]),
                (at_most(TASK_RAW_TARGET),),
                detail=detail,
                samples=samples["task"],
                baseline_samples=samples["raw"],
            )
        )
        if dcmdump:
            results.add(
                Figure(
                    f"{prefix}.worker_task_vs_dcmdump",
                    median(samples["task"]),
                    "s",
                    f"dcmdump -M +sb 7fe0,0010, {cores} processes",
                    median(samples["dcmdump"]),
                    (at_most(1.0),),
                    detail=detail,
                    samples=samples["task"],
                    baseline_samples=samples["dcmdump"],
                )
            )
    if many:
        for count in (1, 2):
            plural = "es" if count > 1 else ""
            mine = [count * n / s for s in samples[f"ours_{count}"]]
            theirs = [count * n / s for s in samples[f"dcmdump_{count}"]] if dcmdump else []
            results.add(
                Figure(
                    f"{prefix}.files_per_s_{count}_worker{'s' if count > 1 else ''}",
                    median(mine),
                    "files/s",
                    f"dcmdump -M +sb 7fe0,0010, {count} process{plural}" if dcmdump else "none",
                    median(theirs) if dcmdump else None,
                    (at_least(1.0),) if dcmdump else (),
                    detail=(
                        f"{count} worker process{plural}, each checking its own upload with "
                        f"validate_tree(processes=1); {label}"
                    ),
                    samples=mine,
                    baseline_samples=theirs,
                )
            )
    results.add(
        Figure(
            f"{prefix}.peak_memory",
            max(peaks["ours"]),
            "MB",
            f"raw read's process tree ({cores} processes)",
            max(peaks["raw"]),
            (at_most(MEMORY_TARGET_MB, ratio=False, unit="MB"),),
            detail=(
                "largest sum of PSS over the worker and its forked helpers, sampled every 5 ms, "
                "above the worker's when it was ready (at least the worker's own VmHWM above its "
                f"RSS then, which catches spikes between samples); {product}"
            ),
            samples=peaks["ours"],
            baseline_samples=peaks["raw"],
        )
    )
