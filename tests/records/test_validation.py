"""The worker's check of an upload, run as the task runs it: results stored, case moved on."""

import logging
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connections
from django.urls import reverse
from pydicom.uid import generate_uid

from records import services as records_services
from records import validation
from records.models import Instance, Series, Study, Upload, UploadFile
from requests_app import flow, services, wizard
from requests_app.models import Case
from requests_app.tasks import validate_upload_task
from tests.conftest import make_case, upload_folder
from tests.records.dicom_factory import write_mammogram, write_series


@pytest.fixture
def submitted(alice):
    """Alice's complete brain MRI request; `_send` uploads to it and submits it. Its patient
    and exam date are those the synthetic studies show (DOE^JANE, 1970; taken 2024-01-15)."""
    return make_case(
        alice,
        complete=True,
        patient_name="Jane Doe",
        patient_birth_date="1970-01-01",
        exam_date="2024-01-15",
    )


def _send(case: Case, folder) -> Upload:
    """Upload a folder to the draft, submit the request, and run the worker's check."""
    upload = upload_folder(case, folder)
    services.submit_case(case, by=case.patient, missing=[])
    return _check(upload)


def _check(upload: Upload) -> Upload:
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    return upload


def test_valid_mri_is_stored_with_previews_and_the_case_is_routed(submitted, tmp_path):
    study_uid = generate_uid()
    write_series(tmp_path / "CD" / "SERIES1", n=12, study_uid=study_uid)
    write_series(tmp_path / "CD" / "SERIES2", n=8, series_number=2, study_uid=study_uid)
    upload = _send(submitted, tmp_path)

    assert upload.status == Upload.Status.VALID
    assert (upload.dicom_count, upload.validation_attempts) == (20, 1)
    study = Study.objects.get(upload=upload)
    assert (study.series_count, study.instance_count, study.modalities) == (2, 20, "MR")
    assert Instance.objects.filter(series__study=study).count() == 20
    for series in Series.objects.filter(study=study):
        assert default_storage.exists(series.preview_key)

    submitted.refresh_from_db()
    assert submitted.status == Case.Status.AWAITING_INSURANCE
    assert submitted.queue_id == "neuroradiology"
    assert submitted.routing_confidence >= 50 and not submitted.needs_coordinator
    assert submitted.events.filter(to_status=Case.Status.AWAITING_INSURANCE).exists()


def test_self_pay_case_goes_straight_to_the_queue(submitted, tmp_path):
    submitted.insurance.plan_type = "none"
    submitted.insurance.save()
    write_series(tmp_path, n=3)
    _send(submitted, tmp_path)
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.QUEUED


def test_images_in_a_zip_are_kept_as_files_reviewers_can_download(submitted, tmp_path):
    series = write_series(tmp_path / "series", n=5)
    archive = tmp_path / "upload" / "portal-download.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in series:
            zipped.write(path, f"DICOM/{path.name}")
    upload = _send(submitted, archive.parent)

    assert upload.status == Upload.Status.VALID
    unpacked = UploadFile.objects.filter(upload=upload, extracted_from__isnull=False)
    assert unpacked.count() == 5
    original = {p.name: p.read_bytes() for p in series}
    for row in unpacked:
        assert row.relative_path.startswith("portal-download.zip/DICOM/")
        with default_storage.open(row.key, "rb") as stored:
            assert stored.read() == original[row.relative_path.rsplit("/", 1)[1]]
    assert set(Instance.objects.values_list("file__extracted_from", flat=True)) == {
        UploadFile.objects.get(upload=upload, extracted_from=None).pk
    }


def test_a_folder_of_pdfs_is_invalid_and_the_case_asks_for_records(submitted, tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 not images")
    (tmp_path / "notes.txt").write_text("hello")
    upload = _send(submitted, tmp_path)
    assert upload.status == Upload.Status.INVALID
    assert upload.problems.filter(code="empty_upload", severity="error").exists()
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.NEEDS_RECORDS
    assert "Some images have problems" in submitted.events.last().message


def test_a_draft_is_checked_but_stays_a_draft_and_cannot_be_submitted_with_errors(alice, tmp_path):
    case = make_case(alice, complete=True)
    (tmp_path / "photo.txt").write_text("not an image")
    upload = _check(upload_folder(case, tmp_path))
    assert upload.status == Upload.Status.INVALID
    case.refresh_from_db()
    assert case.status == Case.Status.DRAFT
    assert "Records: fix the problems found in your images" in wizard.missing_for_submission(case)


def test_a_second_delivery_of_the_task_does_nothing(submitted, tmp_path):
    write_series(tmp_path, n=4)
    upload = _send(submitted, tmp_path)
    _check(upload)
    assert upload.validation_attempts == 1
    assert Study.objects.filter(upload=upload).count() == 1


def test_a_crashed_attempt_is_redone_without_duplicates(submitted, tmp_path):
    write_series(tmp_path, n=4)
    upload = _send(submitted, tmp_path)
    # A worker died half-way through a second run: the upload is left "validating".
    Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.VALIDATING)
    upload = _check(upload)
    assert upload.status == Upload.Status.VALID and upload.validation_attempts == 2
    assert Study.objects.filter(upload=upload).count() == 1
    assert Instance.objects.filter(series__study__upload=upload).count() == 4


def test_a_poison_upload_stops_after_the_attempt_cap_and_flags_the_case(
    submitted, tmp_path, settings
):
    write_series(tmp_path, n=2)
    upload = upload_folder(submitted, tmp_path)
    services.submit_case(submitted, by=submitted.patient, missing=[])
    Upload.objects.filter(pk=upload.pk).update(
        status=Upload.Status.VALIDATING, validation_attempts=settings.VALIDATION_MAX_ATTEMPTS
    )
    upload = _check(upload)
    assert upload.status == Upload.Status.FAILED
    submitted.refresh_from_db()
    assert submitted.needs_coordinator
    assert submitted.status == Case.Status.SUBMITTED  # waits for a person, no loop


def test_images_of_someone_else_are_flagged_for_a_coordinator(submitted, tmp_path):
    write_series(tmp_path, n=3, patient_name="SMITH^ROBERT", birth_date="19450607")
    upload = _send(submitted, tmp_path)
    assert upload.problems.filter(code="patient_mismatch").exists()
    submitted.refresh_from_db()
    assert submitted.needs_coordinator
    assert "patient mismatch" in submitted.routing_reasons


def test_a_mammogram_routes_to_breast_imaging(alice, tmp_path):
    case = make_case(
        alice,
        complete=True,
        exam_type="mammogram",
        body_region="breast",
        birads="4A",
        had_biopsy="no",
        patient_name="Jane Doe",
        patient_birth_date="1970-01-01",
    )
    write_mammogram(tmp_path)
    _send(case, tmp_path)
    case.refresh_from_db()
    assert case.queue_id == "breast"


def test_submitting_without_images_asks_for_them(submitted):
    services.submit_case(submitted, by=submitted.patient, missing=[])
    flow.advance_case(submitted.pk)
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.NEEDS_RECORDS
    assert submitted.events.last().message == "The images are missing: please add them."


def test_the_check_lock_takes_upload_ids_beyond_32_bits(db):
    huge = 2**40 + 7  # a busy service's ids outgrow PostgreSQL's integer
    first = connections.create_connection(DEFAULT_DB_ALIAS)
    second = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        assert validation._try_advisory_lock(first, huge)
        assert not validation._try_advisory_lock(second, huge)  # held: one check at a time
        assert validation._try_advisory_lock(second, huge + 1)  # another upload is free
    finally:
        first.close()
        second.close()


# --- a failure of our own checking code ----------------------------------------------------------

PHI_FOLDER = "DOE_JANE_19700101"  # CD folders are often named after the patient
CALM = "We could not check this file yet; our team has been told."


def _bug_in_the_header_reader(*args: object, **kwargs: object) -> None:
    raise TypeError("a bug of ours, met on every image")


def _submitted_upload(case: Case, folder) -> Upload:
    write_series(folder / PHI_FOLDER, n=3)
    upload = upload_folder(case, folder)
    services.submit_case(case, by=case.patient, missing=[])
    return upload


def test_an_internal_error_counts_an_attempt_and_the_check_is_tried_again(
    submitted, tmp_path, monkeypatch, settings
):
    settings.VALIDATION_MAX_ATTEMPTS = 3
    upload = _submitted_upload(submitted, tmp_path)

    with monkeypatch.context() as bug:
        bug.setattr("records.dicom.inspect._fill_fields", _bug_in_the_header_reader)
        with pytest.raises(validation.InternalCheckError):
            flow.check_upload(upload.pk)

    upload.refresh_from_db()
    assert (upload.status, upload.validation_attempts) == (Upload.Status.VALIDATING, 1)
    assert not upload.problems.exists()  # no verdict on the files, neither damaged nor invalid
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.SUBMITTED and not submitted.needs_coordinator

    upload = _check(upload)  # the next attempt, with the bug gone

    assert (upload.status, upload.validation_attempts) == (Upload.Status.VALID, 2)
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.AWAITING_INSURANCE


def test_the_task_retries_an_internal_error_then_hands_the_upload_to_a_coordinator(
    submitted, tmp_path, monkeypatch, settings, caplog
):
    settings.VALIDATION_MAX_ATTEMPTS = 3
    upload = _submitted_upload(submitted, tmp_path)
    monkeypatch.setattr("records.dicom.inspect._fill_fields", _bug_in_the_header_reader)
    caplog.set_level(logging.INFO)

    # Applied in this process, Celery runs each retry at once instead of after its backoff.
    outcome = validate_upload_task.apply(args=[upload.pk])

    assert outcome.successful()
    upload.refresh_from_db()
    assert (upload.status, upload.validation_attempts) == (Upload.Status.FAILED, 3)
    internal = upload.problems.filter(code="internal_error")
    assert sorted(internal.values_list("path", flat=True)) == [
        f"{PHI_FOLDER}/IM{n:04d}" for n in (1, 2, 3)
    ]
    assert {(p.severity, p.message) for p in internal} == {("error", CALM)}
    others = upload.problems.exclude(code="internal_error")
    assert list(others.values_list("code", flat=True)) == ["validation_failed"]  # nothing else
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.SUBMITTED  # not sent back to the patient for records
    assert submitted.needs_coordinator
    assert str(upload.code)[:8] in submitted.coordinator_note
    assert "internal error" in submitted.coordinator_note
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "TypeError at records.dicom.inspect:_inspect:" in logged
    assert PHI_FOLDER not in logged and "a bug of ours" not in logged


def test_the_patient_sees_a_calm_message_and_the_coordinator_the_internal_error(
    submitted, tmp_path, monkeypatch, settings, client, sam
):
    settings.VALIDATION_MAX_ATTEMPTS = 1
    upload = _submitted_upload(submitted, tmp_path)
    monkeypatch.setattr("records.dicom.inspect._fill_fields", _bug_in_the_header_reader)
    upload = _check(upload)  # the last attempt: straight to a coordinator
    assert upload.status == Upload.Status.FAILED

    client.force_login(submitted.patient)
    page = client.get(reverse("requests:case-detail", args=[submitted.code])).content.decode()
    assert page.count(CALM) == 3
    assert "A care coordinator will look at them" in page
    for alarming in ("Must be fixed", "damaged", "incomplete", "copy the files again"):
        assert alarming not in page, alarming

    client.force_login(sam)
    case_page = client.get(reverse("admin:requests_app_case_change", args=[submitted.pk]))
    upload_page = client.get(reverse("admin:records_upload_change", args=[upload.pk]))
    for shown in (case_page.content.decode(), upload_page.content.decode()):
        assert "internal_error" in shown
    assert "internal error" in case_page.content.decode()  # the note on the case


@pytest.mark.parametrize("order", ["file_first", "folder_first"])
def test_a_file_and_a_folder_of_the_same_name_are_both_checked(submitted, tmp_path, order, caplog):
    caplog.set_level(logging.DEBUG)
    folder = "JOHN_Q_PATIENT_DOB_1961-07-04"
    study_uid = generate_uid()
    images = write_series(tmp_path, n=2, study_uid=study_uid)
    paths = [f"{folder}/IM1", f"{folder}/IM1/IM2"]
    if order == "folder_first":
        images, paths = images[::-1], paths[::-1]
    upload = records_services.store_upload(
        submitted,
        by=submitted.patient,
        files=[SimpleUploadedFile(p.name, p.read_bytes()) for p in images],
        relative_paths=paths,
    )
    services.submit_case(submitted, by=submitted.patient, missing=[])

    upload = _check(upload)

    assert upload.status == Upload.Status.VALID
    assert Instance.objects.filter(series__study__upload=upload).count() == 2
    submitted.refresh_from_db()
    assert submitted.status == Case.Status.AWAITING_INSURANCE
    logged = caplog.text + "".join(f"{r.getMessage()} {r.exc_text}" for r in caplog.records)
    assert folder not in logged


def hostile_zip(folder: Path, scratch: Path) -> str:
    """A portal's zip in `folder` whose long folder name ends in ".." exactly where a cut 500
    characters from the end of the image's path would land; returns that tail."""
    tail = "../" + ("t" * 200 + "/") * 2 + "t" * 91 + "/IM1"
    assert len(tail) == 500
    (image,) = write_series(scratch, n=1)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "portal.zip", "w") as zipped:
        zipped.write(image, "x" * 50 + tail)
    return tail


def is_safe_relative(path: str) -> bool:
    parts = path.split("/")
    return (
        0 < len(path) <= 500
        and not path.startswith("/")
        and "\\" not in path
        and ".." not in parts
        and "" not in parts
        and ":" not in parts[0]
    )


def test_a_long_name_cut_to_fit_never_becomes_a_parent_folder(submitted, tmp_path):
    tail = hostile_zip(tmp_path / "upload", tmp_path / "scratch")
    upload = _send(submitted, tmp_path / "upload")

    unpacked = UploadFile.objects.get(upload=upload, extracted_from__isnull=False)
    assert unpacked.relative_path.endswith("/IM1")
    assert tail not in unpacked.relative_path
    paths = [*upload.files.values_list("relative_path", flat=True)]
    paths += [p for p in upload.problems.values_list("path", flat=True) if p]
    assert paths and all(is_safe_relative(p) for p in paths), paths


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("CD/DICOM/../IM1", "CD/DICOM/IM1"),
        ("/etc/passwd", "etc/passwd"),
        ("C:\\\\Users\\\\jane\\\\IM1", "Users/jane/IM1"),
        ("a/" + "b" * 300 + "/c", "a/" + "b" * 200 + "/c"),
        ("/".join(["n" * 150] * 5), "/".join(["n" * 150] * 2)),
        ("../..", "file"),
    ],
)
def test_a_kept_path_is_relative_and_cut_between_names(raw, kept):
    assert records_services.clean_relative_path(raw, fallback="file") == kept
