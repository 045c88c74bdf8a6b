"""A patient's upload through the real pipeline: browser endpoints, Redis, a Celery worker.

The worker is a separate process on the same test database, broker and storage, so what is
checked here is what production does: the task is sent on commit, picked up, the files are
read from storage and the case is routed.
"""

import hashlib
import zipfile

import pytest
from django.core.files.storage import default_storage

from records.models import Instance, Series, Study, Upload, UploadFile
from requests_app import services
from requests_app.models import Case, CaseEvent
from tests.records.dicom_factory import write_cd, write_series

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROUTED_IN = 30  # seconds; the checks below take one or two


def _wait_until_routed(celery_worker, case: Case) -> Case:
    def routed():
        case.refresh_from_db()
        return case.status != Case.Status.SUBMITTED

    celery_worker.wait_for(routed, what=f"case {case.code} to leave 'submitted'", timeout=ROUTED_IN)
    return case


def _assert_routed_to_neuroradiology_once(case: Case) -> None:
    assert case.status == Case.Status.AWAITING_INSURANCE
    assert case.queue_id == "neuroradiology"
    assert not case.needs_coordinator, case.routing_reasons
    routed = CaseEvent.objects.filter(case=case, to_status=Case.Status.AWAITING_INSURANCE)
    assert routed.count() == 1
    assert routed.get().from_status == Case.Status.SUBMITTED


def _assert_one_study(upload: Upload, images: int) -> Study:
    study = Study.objects.get(upload=upload)
    assert (study.modalities, study.series_count, study.instance_count) == ("MR", 1, images)
    assert Instance.objects.filter(series__study=study).count() == images
    series = Series.objects.get(study=study)
    assert series.preview_key and default_storage.exists(series.preview_key)
    return study


def test_cd_folder_sent_by_the_browser_is_checked_and_the_case_routed(
    celery_worker, patient, tmp_path
):
    celery_worker()  # running all along, as in production
    series = write_series(tmp_path / "series", n=20)
    write_cd(tmp_path / "JANE_DOE_CD", series)
    upload = patient.send_folder(tmp_path / "JANE_DOE_CD")
    assert upload.file_count == 21  # 20 images and the DICOMDIR
    services.submit_case(patient.case, by=patient.case.patient, missing=[])

    case = _wait_until_routed(celery_worker, patient.case)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    assert (upload.dicom_count, upload.ignored_count, upload.validation_attempts) == (20, 1, 1)
    assert not upload.problems.filter(severity="error").exists()
    study = _assert_one_study(upload, 20)
    stored = set(
        Instance.objects.filter(series__study=study).values_list("file__relative_path", flat=True)
    )
    assert len(stored) == 20 and all(p.startswith("JANE_DOE_CD/PT000000/") for p in stored)
    _assert_routed_to_neuroradiology_once(case)


@pytest.mark.usefixtures("s3_bucket")
def test_on_s3_the_worker_streams_the_parts_down_hashes_them_and_routes_the_case(
    celery_worker, patient, tmp_path
):
    worker = celery_worker()
    assert worker.env["STORAGE_BACKEND"] == "s3"
    series = write_series(tmp_path / "series", n=20)
    write_cd(tmp_path / "JANE_DOE_CD", series)
    upload = patient.send_folder(tmp_path / "JANE_DOE_CD")
    # The bytes went from the "browser" to the bucket: the web process never hashed them.
    assert set(upload.files.values_list("sha256", flat=True)) == {""}
    services.submit_case(patient.case, by=patient.case.patient, missing=[])

    case = _wait_until_routed(celery_worker, patient.case)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID and upload.dicom_count == 20
    _assert_one_study(upload, 20)
    originals = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in (tmp_path / "JANE_DOE_CD").rglob("*")
        if p.is_file()
    }
    rows = {row.relative_path: row for row in upload.files.all()}
    assert set(rows) == set(originals)
    for path, data in originals.items():
        assert rows[path].sha256 == hashlib.sha256(data).hexdigest(), path
        assert rows[path].size == len(data)
    _assert_routed_to_neuroradiology_once(case)


def test_zip_sent_in_parts_is_unpacked_and_its_images_kept_as_files(
    celery_worker, patient, tmp_path
):
    celery_worker()
    series = write_series(tmp_path / "series", n=48, rows=256, cols=256)
    folder = tmp_path / "download"
    folder.mkdir()
    with zipfile.ZipFile(folder / "portal-download.zip", "w") as archive:  # stored: > 1 part
        for path in series:
            archive.write(path, f"DICOM/{path.name}")
    upload = patient.send_folder(folder)
    zipped = upload.files.get()
    assert zipped.size > 5 * 1024 * 1024  # it went up in two parts
    services.submit_case(patient.case, by=patient.case.patient, missing=[])

    case = _wait_until_routed(celery_worker, patient.case)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID and upload.dicom_count == 48
    study = _assert_one_study(upload, 48)
    unpacked = UploadFile.objects.filter(upload=upload, extracted_from=zipped)
    assert unpacked.count() == 48
    original = {p.name: p.read_bytes() for p in series}
    for row in unpacked:
        name = row.relative_path.removeprefix("download/portal-download.zip/DICOM/")
        with default_storage.open(row.key, "rb") as stored:
            assert stored.read() == original[name], row.relative_path
        assert row.sha256 == hashlib.sha256(original[name]).hexdigest()
    files = Instance.objects.filter(series__study=study).values_list("file", flat=True)
    assert set(files) == set(unpacked.values_list("pk", flat=True))
    _assert_routed_to_neuroradiology_once(case)
