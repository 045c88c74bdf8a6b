"""Checking an upload in a worker, and what a case's checked uploads add up to.

The worker hands the header validator the upload's files with their relative paths (read where
disk storage keeps them, or streamed down from S3 first) and stores what it found in bulk;
the flow of the case (`requests_app.flow`) then moves the case on from `case_records`. Storage
and pydicom I/O happen outside database transactions; every step can run again after a crash and
ends in the same state. One worker at a time checks an upload (a lock that dies with its holder),
and a sweeper sends again the checks whose task was lost.
"""

import fcntl
import hashlib
import io
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, models, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from requests_app.models import Case

from . import crosscheck, dicom, digests, paths
from .models import Instance, Series, Study, Upload, UploadFile, UploadProblem
from .problems import INTERNAL_ERROR, Problem, make

logger = logging.getLogger(__name__)

COPY_CHUNK = 1024 * 1024
PATH_MAX = UploadFile._meta.get_field("relative_path").max_length
# Images unpacked from a zip get their rows this many at a time, before their files.
UNPACKED_BATCH = 100
# From this many rows on, a study's images are inserted with COPY (on PostgreSQL).
COPY_FROM = 50
# Warnings a coordinator should look at before a specialist reads the case, and files our own
# checking code failed on.
COORDINATOR_CODES = {
    "patient_mismatch",
    "multiple_patients",
    "people_answered",
    "study_in_other_case",
    "modality_mismatch",
    INTERNAL_ERROR,
}
# The PostgreSQL advisory lock held while an upload is checked has one 64-bit key: this namespace
# in its top 16 bits, the upload's id in the other 48.
LOCK_NAMESPACE = 0x5EC0
# A worker killed a moment ago may still hold the lock until its connection is seen to close.
LOCK_WAIT = 3.0


class InternalCheckError(Exception):
    """Our own checking code failed on some of an upload's files (internal_error): there is no
    verdict on them, so the check is tried again. Unlike the errors in `retried_on`, the attempt
    counts: a bug that fails every time must reach a coordinator, not loop."""


def validate_upload(upload_id: int, *, retried_on: tuple[type[Exception], ...] = ()) -> int | None:
    """Check one received upload, once, and return its case's id for the flow of the case to move
    it on; a delivery that finds it checked or being checked returns None.

    An attempt cut short by one of `retried_on` (the task tries again) does not count towards
    VALIDATION_MAX_ATTEMPTS: that cap is for files that crash or stall every worker, and for
    checks our own code fails on (InternalCheckError, raised before the last attempt).
    """
    with _upload_lock(upload_id) as held:
        if not held:
            logger.info("upload %s is being checked by another worker", upload_id)
            return None
        upload = _claim(upload_id)
        if upload is None:
            return None
        try:
            if upload.validation_attempts > settings.VALIDATION_MAX_ATTEMPTS:
                _give_up(upload)
            else:
                _check(upload)
        except retried_on:
            _refund_attempt(upload)
            raise
        return upload.case_id


@contextmanager
def _upload_lock(upload_id: int) -> Iterator[bool]:
    """Whether this process holds the upload's lock, for as long as the block runs.

    The lock dies with the process that holds it (a PostgreSQL session lock on a connection of its
    own, which the task's connection handling never closes; a file lock on SQLite), so a
    redelivery after a crash takes over while a duplicate delivery beside a live check does not.
    """
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        session = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            yield _acquire(lambda: _try_advisory_lock(session, upload_id))
        finally:
            session.close()  # ends the session, and the lock with it
        return
    path = Path(settings.VALIDATION_WORK_DIR) / "locks" / f"upload-{upload_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        yield _acquire(lambda: _try_file_lock(handle))


def _acquire(attempt: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + LOCK_WAIT
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def lock_key(upload_id: int) -> int:
    """The key of an upload's advisory lock (ids up to 2**48)."""
    return LOCK_NAMESPACE << 48 | upload_id


def _try_advisory_lock(session, upload_id: int) -> bool:
    with session.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s::bigint)", [lock_key(upload_id)])
        return cursor.fetchone()[0]


def _try_file_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _claim(upload_id: int) -> Upload | None:
    """received (or validating after a crash) -> validating, counting the attempt."""
    claimed = Upload.objects.filter(
        pk=upload_id, status__in=[Upload.Status.RECEIVED, Upload.Status.VALIDATING]
    ).update(
        status=Upload.Status.VALIDATING,
        validation_attempts=F("validation_attempts") + 1,
        validation_started_at=timezone.now(),
    )
    if not claimed:
        return None
    return Upload.objects.select_related("case", "case__patient").get(pk=upload_id)


def _refund_attempt(upload: Upload) -> None:
    """An attempt the database or storage cut short was not the files' doing: it does not count."""
    close_old_connections()  # the error may have broken this process's connection
    Upload.objects.filter(
        pk=upload.pk, status=Upload.Status.VALIDATING, validation_attempts__gt=0
    ).update(validation_attempts=F("validation_attempts") - 1)


def _give_up(upload: Upload, *, internal: Sequence[Problem] = ()) -> None:
    """A file that crashes or stalls every worker that opens it, or files our own checking code
    keeps failing on (`internal`, recorded for the coordinator): stop, hand the case to a person.
    """
    logger.error(
        "upload %s could not be checked after %s attempts",
        upload.code,
        min(upload.validation_attempts, settings.VALIDATION_MAX_ATTEMPTS),
    )
    note = f"Upload {str(upload.code)[:8]} could not be checked automatically"
    if internal:
        note += f": internal error on {len(internal)} file(s) (our checking code failed)"
    if not _forget_previous_results(upload):
        return  # deleted meanwhile: there is nobody to tell
    with transaction.atomic():
        UploadProblem.objects.create(
            upload=upload,
            code="validation_failed",
            severity=UploadProblem.Severity.WARNING,
            message=(
                "We could not finish checking these files. A care coordinator will look at "
                "them; you don't need to do anything."
            ),
        )
        UploadProblem.objects.bulk_create(_problem_rows(upload, list(internal)))
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.Status.FAILED, validated_at=timezone.now()
        )
        Case.objects.filter(pk=upload.case_id).update(
            needs_coordinator=True, coordinator_note=note + "."
        )


def _check(upload: Upload) -> None:
    case = upload.case
    if not _forget_previous_results(upload):
        return
    stored: list[str] = []
    try:
        with _workspace(upload) as (files, scratch, by_path):
            report = dicom.validate_files(
                files,
                declared_modality=case.exam_type or None,
                declared_region=case.body_region or None,
                patient=dicom.AccountHolder(
                    name=case.patient_name, birth_date=case.patient_birth_date
                ),
                scratch=scratch,
            )
            internal = [problem for problem in report.problems if problem.code == INTERNAL_ERROR]
            if internal:
                files_for = None
            else:
                files_for = _store_unpacked(upload, report, by_path, stored)
                previews = _store_previews(upload, report, stored) if files_for is not None else {}
        if internal:
            _after_internal_error(upload, internal)
            return
        recorded = files_for is not None and _record(upload, report, files_for, previews)
    except BaseException:
        _discard(stored)
        raise
    if not recorded:
        # Deleted (with its case, perhaps) while it was being checked: what this attempt
        # stored has no row to lead to it.
        _discard(stored)
        logger.info("upload %s was removed while it was being checked", upload.code)
        return
    logger.info(
        "upload %s checked: %s images, %s problems",
        upload.code,
        report.files["dicom"],
        len(report.problems),
    )


def _after_internal_error(upload: Upload, internal: list[Problem]) -> None:
    """Our own code failed on some files: no verdict is stored (neither valid nor invalid, which
    would ask the patient for new records). Try again; after the last attempt, a coordinator."""
    logger.error(
        "upload %s: %s on %s file(s) in attempt %s of %s",
        upload.code,
        INTERNAL_ERROR,
        len(internal),
        upload.validation_attempts,
        settings.VALIDATION_MAX_ATTEMPTS,
    )
    if upload.validation_attempts >= settings.VALIDATION_MAX_ATTEMPTS:
        _give_up(upload, internal=internal)
        return
    raise InternalCheckError(f"upload {upload.code}: {INTERNAL_ERROR} on {len(internal)} file(s)")


def _discard(keys: list[str]) -> None:
    for key in keys:
        default_storage.delete(key)


def _lock_for_recording(upload: Upload) -> bool:
    """Inside a transaction: lock the upload's case, then the upload, as deleting them does;
    whether the upload is still there and being checked by us."""
    Case.objects.select_for_update().filter(pk=upload.case_id).first()
    return (
        Upload.objects.select_for_update()
        .filter(pk=upload.pk, status=Upload.Status.VALIDATING)
        .exists()
    )


def _forget_previous_results(upload: Upload) -> bool:
    """A second attempt starts clean: what an interrupted first one stored goes.

    False when the upload was deleted meanwhile: there is nothing to check.
    """
    with transaction.atomic():
        if not _lock_for_recording(upload):
            return False
        stale = list(upload.files.filter(extracted_from__isnull=False))
        stale_previews = list(
            Series.objects.filter(study__upload=upload)
            .exclude(preview_key="")
            .values_list("preview_key", flat=True)
        )
        Study.objects.filter(upload=upload).delete()
        UploadProblem.objects.filter(upload=upload).delete()
        UploadFile.objects.filter(pk__in=[row.pk for row in stale]).delete()
    _discard([row.key for row in stale] + stale_previews)
    return True


@contextmanager
def _workspace(
    upload: Upload,
) -> Iterator[tuple[list[tuple[Path, str]], Path, dict[str, UploadFile]]]:
    """The upload's files as (where to read it, its path in the upload) pairs, each path once,
    and a private temporary folder for what zips hold.

    On disk storage each file is read where it is stored: no folder of links is built. From S3
    each file is streamed into the temporary folder under a name of its own.
    """
    base = Path(settings.VALIDATION_WORK_DIR)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"upload-{upload.code}-", dir=base))
    fetched, scratch = work / "files", work / "unpacked"
    fetched.mkdir()
    scratch.mkdir()
    by_path: dict[str, UploadFile] = {}
    files: list[tuple[Path, str]] = []
    layout = _Layout()
    try:
        rows = upload.files.filter(
            status=UploadFile.Status.COMPLETE, extracted_from__isnull=True
        ).order_by("pk")
        for row in rows:
            row.upload = upload
            relative = layout.place(row.relative_path)
            files.append((_fetch(row, fetched / str(row.code)), relative))
            by_path[relative] = row
        yield files, scratch, by_path
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Layout:
    """Where each file of an upload goes in the workspace, so that no two collide.

    An upload's paths need not fit one file system: the same path can come twice (a folder
    chosen twice), and a file can share its name with a folder (`IM1` beside `IM1/IM2`, from
    two folders merged on the patient's side). A clash gets a "~2" (or "~3"...) on the name
    that came second, file or folder, so every file is still checked.
    """

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.folders: set[str] = set()

    def place(self, relative: str) -> str:
        *folders, name = relative.split("/")
        parent = ""
        for folder in folders:
            parent = self._free(parent, folder, self.files)
            self.folders.add(parent)
        path = self._free(parent, name, self.files, self.folders)
        self.files.add(path)
        return path

    @staticmethod
    def _free(parent: str, name: str, *taken: set[str]) -> str:
        prefix = f"{parent}/" if parent else ""
        candidate, n = f"{prefix}{name}", 1
        while any(candidate in names for names in taken):
            n += 1
            candidate = f"{prefix}{name}~{n}"
        return candidate


def _fetch(row: UploadFile, target: Path) -> Path:
    """Where to read a stored file: where storage keeps it on this disk, else a copy at
    `target`."""
    try:
        stored = Path(default_storage.path(row.key))
    except NotImplementedError:
        pass  # S3 storage has no local path
    else:
        if not row.sha256:  # received through our part endpoints: hashed here, off the web
            with stored.open("rb") as handle:
                _keep_digests(row, digests.of_file(handle))
        return stored
    taken = digests.Digests()
    with default_storage.open(row.key, "rb") as source, target.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            taken.update(chunk)
            out.write(chunk)
    _keep_digests(row, taken)
    return target


def _keep_digests(row: UploadFile, taken: digests.Digests) -> None:
    """Fill in the digests of a file its row does not have yet."""
    missing = {"sha256": taken.sha256} if not row.sha256 else {}
    if row.crc32 is None:
        missing["crc32"] = taken.crc32
    if missing:
        UploadFile.objects.filter(pk=row.pk).update(**missing)


def _store_unpacked(
    upload: Upload, report: dicom.Report, by_path: dict[str, UploadFile], stored: list[str]
) -> dict[str, UploadFile] | None:
    """Keep the images that came out of a zip as files of their own, for reviewers.

    Returns the row behind each image's path; None if the upload was deleted meanwhile. Rows
    are written before their files, a batch at a time under the upload's lock: a worker killed
    half-way leaves rows that the next attempt (or the upload's deletion) clears with their
    files, never a file that no row leads to. Each key stored is added to `stored`.
    """
    files_for: dict[str, UploadFile] = {}
    pending: list[tuple[UploadFile, Path]] = []
    for result in report.instances:
        row = by_path.get(result.path)
        if row is None:
            archive = _containing_archive(result.path, by_path)
            location = report.locations.get(result.path)
            if archive is None or location is None:
                continue
            with location.open("rb") as handle:
                taken = digests.of_file(handle)
            row = UploadFile(
                upload=upload,
                extracted_from=archive,
                relative_path=paths.safe_relative_path(
                    result.path, fallback=str(archive.code), max_length=PATH_MAX
                ),
                status=UploadFile.Status.COMPLETE,
                sha256=taken.sha256,
                crc32=taken.crc32,
                size=taken.size,
            )
            pending.append((row, location))
        files_for[result.path] = row
    for start in range(0, len(pending), UNPACKED_BATCH):
        batch = pending[start : start + UNPACKED_BATCH]
        with transaction.atomic():
            if not _lock_for_recording(upload):
                return None
            UploadFile.objects.bulk_create([row for row, _ in batch])
        for row, location in batch:
            with location.open("rb") as handle:
                stored.append(default_storage.save(row.key, File(handle, name=row.key)))
    return files_for


def _containing_archive(path: str, by_path: dict[str, UploadFile]) -> UploadFile | None:
    for candidate, row in by_path.items():
        if path.startswith(candidate + "/"):
            return row
    return None


def _store_previews(upload: Upload, report: dicom.Report, stored: list[str]) -> dict[str, str]:
    """One PNG per series, under the upload's prefix; returns storage keys by series UID (and
    adds them to `stored`)."""
    keys: dict[str, str] = {}
    for study in report.studies:
        for series in study.series:
            if series.preview is None:
                continue
            name = hashlib.sha256(series.series_instance_uid.encode()).hexdigest()[:32]
            key = f"{upload.prefix}previews/{name}.png"
            buffer = io.BytesIO()
            series.preview.save(buffer, "PNG", optimize=True)
            default_storage.delete(key)
            keys[series.series_instance_uid] = default_storage.save(
                key, ContentFile(buffer.getvalue())
            )
            stored.append(keys[series.series_instance_uid])
    return keys


def _record(
    upload: Upload,
    report: dicom.Report,
    files_for: dict[str, UploadFile],
    previews: dict[str, str],
) -> bool:
    """Write the studies, series, instances and problems found, in bulk, in one transaction;
    False (and nothing written) if the upload was deleted meanwhile."""
    by_series: dict[str, list[dicom.FileResult]] = {}
    for result in report.instances:
        by_series.setdefault(result.series_instance_uid, []).append(result)
    # Names stay in the images unless the patient must tell us whose each study is.
    several_people = any(problem.code == "multiple_patients" for problem in report.problems)
    with transaction.atomic():
        if not _lock_for_recording(upload):
            return False
        for summary in report.studies:
            study = Study.objects.create(
                case=upload.case,
                upload=upload,
                study_instance_uid=summary.study_instance_uid[:64],
                modalities=",".join(summary.modalities)[:100],
                body_parts=",".join(summary.body_parts)[:200],
                description=summary.description[:200],
                study_date=summary.study_date[:8],
                series_count=summary.series_count,
                instance_count=summary.instance_count,
                patient_name=summary.patient_name[:200] if several_people else "",
                patient_birth_date=summary.patient_birth_date[:8] if several_people else "",
            )
            series_rows = Series.objects.bulk_create(
                Series(
                    study=study,
                    series_instance_uid=s.series_instance_uid[:64],
                    modality=s.modality[:16],
                    body_part=s.body_part[:64],
                    description=s.description[:200],
                    series_number=s.series_number,
                    instance_count=s.instance_count,
                    preview_key=previews.get(s.series_instance_uid, ""),
                )
                for s in summary.series
            )
            _insert_rows(
                Instance,
                [
                    Instance(
                        series=row,
                        file=files_for[r.path],
                        sop_instance_uid=r.sop_instance_uid[:64],
                        sop_class_uid=r.sop_class_uid[:64],
                        instance_number=r.instance_number,
                        transfer_syntax_uid=r.transfer_syntax_uid[:64],
                        rows=r.rows,
                        columns=r.columns,
                        frames=r.number_of_frames,
                    )
                    for row in series_rows
                    for r in by_series.get(row.series_instance_uid, [])
                    if r.path in files_for
                ],
            )
        UploadProblem.objects.bulk_create(_problem_rows(upload, report.problems))
        if crosscheck.cases_with_the_same_studies(upload.case, upload_id=upload.pk):
            UploadProblem.objects.bulk_create(_problem_rows(upload, [make("study_in_other_case")]))
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.Status.VALID if report.valid else Upload.Status.INVALID,
            validated_at=timezone.now(),
            dicom_count=report.files["dicom"],
            ignored_count=report.files["ignored"],
            rejected_count=report.files["rejected"],
        )
    return True


def _insert_rows(model: type[models.Model], rows: list[models.Model]) -> None:
    """Insert many new rows (their primary keys are not read back): with COPY on PostgreSQL,
    which skips building one INSERT with a parameter per value, else with bulk_create."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or len(rows) < COPY_FROM:
        model.objects.bulk_create(rows, batch_size=1000)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    text = io.StringIO()
    for row in rows:
        values = (f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields)
        text.write("\t".join(_copy_value(value) for value in values))
        text.write("\n")
    text.seek(0)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN", text
        )


def _copy_value(value: object) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).translate(_COPY_ESCAPES)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _problem_rows(upload: Upload, problems: list[Problem]) -> list[UploadProblem]:
    return [
        UploadProblem(
            upload=upload,
            code=p.code[:40],
            severity=p.severity,
            message=p.message,
            path=paths.safe_relative_path(p.path, fallback="", max_length=PATH_MAX)
            if p.path
            else "",
        )
        for p in problems
    ]


@dataclass(frozen=True)
class CaseRecords:
    """Where a case's checked uploads leave it, and what its studies say, for the flow of the
    case (`requests_app.flow`): the scan's own words for routing, and the codes a coordinator
    should look at first."""

    pending: bool  # an upload is still waiting for its check
    valid: bool  # at least one upload holds readable images
    invalid: bool  # an upload has problems the patient can fix
    only_failed: bool  # nothing readable, and a check gave up: a coordinator's to help
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    descriptions: tuple[str, ...]
    flagged: tuple[str, ...]
    # Studies dated more than 30 days from the exam date the patient gave, both dates named.
    dates_apart: tuple[str, ...] = ()


def case_records(case: Case) -> CaseRecords:
    """What the case's finished uploads (not those still receiving) add up to."""
    uploads = list(case.uploads.exclude(status=Upload.Status.RECEIVING))
    valid = [u for u in uploads if u.status == Upload.Status.VALID]
    modalities, body_parts, descriptions, dates_apart = set(), set(), set(), set()
    studies = Study.objects.filter(upload__in=valid).select_related("case")
    for study in studies.prefetch_related("series"):
        if study.far_from_exam_date:
            dates_apart.add(
                f"The images are dated {study.taken_on:%b %-d, %Y}; the patient gave "
                f"{case.exam_date:%b %-d, %Y} as the date of the scan."
            )
        modalities.update(m for m in study.modalities.split(",") if m)
        body_parts.update(b for b in study.body_parts.split(",") if b)
        descriptions.add(study.description)
        descriptions.update(series.description for series in study.series.all())
    flagged = UploadProblem.objects.filter(
        Q(code__in=COORDINATOR_CODES) | Q(code="validation_failed"), upload__case=case
    ).values_list("code", flat=True)
    return CaseRecords(
        pending=any(not u.is_checked for u in uploads),
        valid=bool(valid),
        invalid=any(u.status == Upload.Status.INVALID for u in uploads),
        only_failed=not valid and any(u.status == Upload.Status.FAILED for u in uploads),
        modalities=tuple(sorted(modalities)),
        body_parts=tuple(sorted(body_parts)),
        descriptions=tuple(sorted(d for d in descriptions if d)),
        flagged=tuple(sorted(set(flagged))),
        dates_apart=tuple(sorted(dates_apart)),
    )


@dataclass(frozen=True)
class Stalled:
    """What the sweeper sends on again: uploads to check, and cases to move on (ids)."""

    uploads: list[int]
    cases: list[int]


def find_stalled(*, now: datetime) -> Stalled:
    """Checks whose task was lost (a broker restarted without its queue, a worker gone for good)
    and submitted cases whose uploads are all checked but that never moved on.

    Sending a check again is harmless when one still runs: the upload's lock turns the duplicate
    away. Uploads still receiving are the patient's to finish or delete, and are left alone.
    """
    waiting = now - timedelta(minutes=settings.VALIDATION_REQUEUE_AFTER_MINUTES)
    stalled = now - timedelta(
        seconds=settings.CELERY_TASK_TIME_LIMIT,
        minutes=settings.VALIDATION_STALLED_MARGIN_MINUTES,
    )
    uploads = Upload.objects.filter(
        Q(status=Upload.Status.RECEIVED, completed_at__lt=waiting)
        | Q(status=Upload.Status.VALIDATING, validation_started_at__lt=stalled)
    ).values_list("pk", flat=True)
    of_case = Upload.objects.filter(case=OuterRef("pk"))
    cases = (
        Case.objects.filter(status=Case.Status.SUBMITTED, status_changed_at__lt=waiting)
        .exclude(
            Exists(of_case.filter(status__in=[Upload.Status.RECEIVED, Upload.Status.VALIDATING]))
        )
        # Only a coordinator can move these on (the flow leaves them as they are).
        .exclude(
            Exists(of_case.filter(status=Upload.Status.FAILED))
            & ~Exists(of_case.filter(status=Upload.Status.VALID))
        )
        .alias(last_checked=Max("uploads__validated_at"))
        .filter(Q(last_checked__lt=waiting) | Q(last_checked__isnull=True))
        .values_list("pk", flat=True)
    )
    found = Stalled(uploads=sorted(uploads), cases=sorted(cases))
    if found.uploads or found.cases:
        logger.warning(
            "sweep: %s uploads to check again, %s cases to move on",
            len(found.uploads),
            len(found.cases),
        )
    return found
