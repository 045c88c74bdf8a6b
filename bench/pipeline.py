"""Figure 2: from "upload complete" to "case routed", with a real Celery worker on Redis.

Each round the patient's browser has just sent the last part of a study: its files are in
storage (hard links to the synthetic study, so the page cache is warm as after a real upload)
and its rows say complete. The clock starts when the bench calls ``finish_upload`` and
``submit_case``, as the two POSTs of the browser do, and stops at the timeline event the worker
writes when it routes the case. The baseline is a raw read of every byte of the same files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from . import database
from .measure import Figure, Results, alternate, at_most, median
from .processes import PYTHON, wait_log
from .studies import Study, studies_for

ROUTE_TIMEOUT = 300.0
READ_BUFFER = 1024 * 1024
DECLARED = {"mr": ("mri", "brain"), "ct": ("ct", "chest"), "mg": ("mammogram", "breast")}


def raw_read(paths: list[Path]) -> float:
    buffer = bytearray(READ_BUFFER)
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            while handle.readinto(buffer):
                pass
    return time.perf_counter() - start


def _stored_upload(study: Study, patient):
    """A draft case whose upload received every file of ``study``, not yet finished."""
    from django.core.files.storage import default_storage

    from records.models import Upload, UploadFile
    from requests_app.models import Case
    from requests_app.services import create_draft

    exam, region = DECLARED[study.name]
    case = create_draft(patient=patient)
    Case.objects.filter(pk=case.pk).update(
        patient_name="Jane Doe",
        patient_birth_date="1970-01-01",
        exam_type=exam,
        body_region=region,
        review_type="radiology",
    )
    case.refresh_from_db()
    upload = Upload.objects.create(case=case, uploaded_by=patient)
    rows = []
    for path in study.files:
        row = UploadFile(
            upload=upload,
            relative_path=path.relative_to(study.root.parent).as_posix(),
            status=UploadFile.Status.COMPLETE,
            size=path.stat().st_size,
            sha256="0" * 64,
        )
        target = Path(default_storage.path(row.key))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
        rows.append(row)
    UploadFile.objects.bulk_create(rows, batch_size=1000)
    return case, upload


def _end_to_end(study: Study, patient, phases: list[dict]) -> float:
    from records.models import Upload
    from records.services import finish_upload
    from requests_app.models import Case, CaseEvent
    from requests_app.services import submit_case

    case, upload = _stored_upload(study, patient)
    start = time.time()
    finish_upload(upload, by=patient)
    submit_case(case, by=patient, missing=[])
    routed = (Case.Status.AWAITING_INSURANCE, Case.Status.QUEUED)
    deadline = time.monotonic() + ROUTE_TIMEOUT
    # The timeline event, not the status: the status UPDATE commits before the event is written.
    events = CaseEvent.objects.filter(case=case)
    while (event := events.filter(to_status__in=routed).order_by("at").first()) is None:
        if events.filter(to_status=Case.Status.NEEDS_RECORDS).exists():
            raise RuntimeError(f"the worker asked for records for the synthetic {study.name}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"case not routed within {ROUTE_TIMEOUT:.0f} s")
        time.sleep(0.01)
    upload = Upload.objects.get(pk=upload.pk)
    phases.append(
        {
            "queued": upload.validation_started_at.timestamp() - start,
            "validated": (upload.validated_at - upload.validation_started_at).total_seconds(),
            "routed": (event.at - upload.validated_at).total_seconds(),
        }
    )
    return event.at.timestamp() - start


def run(results: Results, workspace, options) -> None:
    database.setup(workspace)
    from . import seed

    people = seed.people()
    studies = studies_for(workspace, options.sizes)
    argv = [PYTHON, "-m", "celery", "-A", "secondopinion", "worker", "--loglevel=INFO"]
    argv += ["--concurrency=2", "--pool=prefork", "--without-mingle", "--without-gossip"]
    argv += ["-n", f"bench-{os.getpid()}@%h"]
    env = database.python_env({"DJANGO_SETTINGS_MODULE": "secondopinion.settings"})
    worker = workspace.start("celery-pipeline", argv, env=env)
    try:
        wait_log(worker, "ready.")
        for study in studies:
            phases: list[dict] = []
            samples = alternate(
                options.rounds,
                {
                    "e2e": lambda study=study, phases=phases: _end_to_end(
                        study, people.patient, phases
                    ),
                    "raw": lambda study=study: raw_read(study.files),
                },
            )
            middle = {key: median([p[key] for p in phases[1:]]) for key in phases[0]}
            results.note(
                f"pipeline.{study.name}: queued {middle['queued']:.3f} s, validation task "
                f"{middle['validated']:.3f} s, routing {middle['routed']:.3f} s (medians)"
            )
            results.add(
                Figure(
                    f"pipeline.{study.name}.complete_to_routed",
                    median(samples["e2e"]),
                    "s",
                    "raw read of every byte, page cache warm",
                    median(samples["raw"]),
                    (at_most(5.0),),
                    detail=(
                        f"{study.label}, {len(study.files)} files; medians: queued "
                        f"{middle['queued']:.3f} s, validation task {middle['validated']:.3f} s, "
                        f"routing {middle['routed']:.3f} s"
                    ),
                    samples=samples["e2e"],
                    baseline_samples=samples["raw"],
                )
            )
    finally:
        workspace.stop(worker)
