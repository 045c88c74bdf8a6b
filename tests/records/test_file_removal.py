"""Who may take image files out of a case, and what the case keeps count of afterwards.

A patient may abort a file only while its parts are still arriving, on a request they may still
change. Once an upload has been checked its files leave only through the coordinators' audited
action, which keeps the upload's and the study's counts right and says so on the timeline.
"""

import io

import pytest
from django.contrib.admin import helpers
from django.core.files.storage import default_storage
from django.urls import reverse
from pydicom.uid import generate_uid

from records import multipart
from records import services as records_services
from records.models import Instance, Series, Study, Upload, UploadFile
from requests_app import flow
from requests_app.models import AuditEvent, Case
from tests.conftest import make_case, make_user, upload_folder
from tests.records.dicom_factory import write_series

EDITABLE = {Case.Status.DRAFT, Case.Status.NEEDS_RECORDS}


def _checked_upload(case: Case, folder) -> Upload:
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    return upload


def _received_in_full(upload: Upload, relative_path: str, data: bytes) -> UploadFile:
    """A file whose parts all arrived, as the part endpoint writes them, then completed."""
    row = records_services.start_file(upload, relative_path=relative_path, size=len(data))
    part = multipart.backend().write_part(
        row.multipart_id,
        1,
        io.BytesIO(data),
        length=len(data),
        max_bytes=len(data),
        file_size=len(data),
    )
    return records_services.complete_file(row, parts=[part])


def _files_in_every_state(case: Case, folder) -> dict[str, UploadFile]:
    """One file of the case in each state a file can be in: still receiving parts, received in
    full in an upload not finished yet, and part of a checked upload with its image stored."""
    write_series(folder / "CD" / "SER1", n=3)
    checked = _checked_upload(case, folder)
    open_batch = records_services.start_upload(case, by=case.patient)
    return {
        "receiving": records_services.start_file(open_batch, relative_path="CD/IM9", size=10),
        "complete_in_open_upload": _received_in_full(open_batch, "CD/IM8", b"abcd"),
        "checked": checked.files.filter(instances__isnull=False).first(),
    }


def _delete(client, row: UploadFile):
    upload = row.upload
    return client.delete(
        reverse("records:file-abort", args=[upload.case.code, upload.code, row.code])
    )


def _still_there(row: UploadFile) -> bool:
    if not UploadFile.objects.filter(pk=row.pk).exists():
        return False
    if row.status == UploadFile.Status.RECEIVING:
        return multipart.backend()._folder(row.multipart_id).is_dir()
    return default_storage.exists(row.key)


@pytest.mark.parametrize("status", Case.Status.values)
def test_patient_cannot_delete_files_of_a_checked_upload_in_any_status(
    status, client, alice, tmp_path
):
    case = make_case(alice, complete=True)
    rows = _files_in_every_state(case, tmp_path)
    Case.objects.filter(pk=case.pk).update(status=status)
    checked = rows["checked"].upload
    counts = (checked.file_count, Study.objects.get(upload=checked).instance_count)
    client.force_login(alice)

    answers = {state: _delete(client, row).status_code for state, row in rows.items()}

    may_abort = status in EDITABLE
    assert answers == {
        "receiving": 200 if may_abort else 409,
        "complete_in_open_upload": 409,
        "checked": 409,
    }
    assert _still_there(rows["receiving"]) is not may_abort
    assert _still_there(rows["complete_in_open_upload"])
    assert _still_there(rows["checked"])
    checked.refresh_from_db()
    assert (checked.file_count, Study.objects.get(upload=checked).instance_count) == counts
    assert Instance.objects.filter(file=rows["checked"]).exists()


def test_a_refusal_tells_the_patient_why(client, alice, tmp_path):
    case = make_case(alice, complete=True)
    checked = _files_in_every_state(case, tmp_path)["checked"]
    client.force_login(alice)
    response = _delete(client, checked)
    assert response.status_code == 409
    assert response.json()["error"] == (
        "These images have already been checked; write to your care coordinator to remove a file."
    )


@pytest.fixture
def reviewed_case(alice, tmp_path):
    """A case in review whose checked upload holds one study: series of three and two images."""
    case = make_case(alice, complete=True)
    study_uid = generate_uid()
    write_series(tmp_path / "CD" / "SER1", n=3, study_uid=study_uid)
    write_series(tmp_path / "CD" / "SER2", n=2, series_number=2, study_uid=study_uid)
    upload = _checked_upload(case, tmp_path)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.IN_REVIEW)
    return case, upload


def _remove_in_admin(client, rows: list[UploadFile], reason: str = "Wrong patient's image."):
    return client.post(
        reverse("admin:records_uploadfile_changelist"),
        {
            "action": "remove_files_action",
            helpers.ACTION_CHECKBOX_NAME: [row.pk for row in rows],
            "reason": reason,
            "apply": "1",
        },
    )


def test_coordinator_removes_checked_files_keeping_counts_timeline_and_audit(
    client, sam, reviewed_case
):
    case, upload = reviewed_case
    study = Study.objects.get(upload=upload)
    assert (upload.file_count, study.instance_count, study.series_count) == (5, 5, 2)
    small = Series.objects.get(study=study, instance_count=2)
    doomed = list(UploadFile.objects.filter(instances__series=small))
    doomed.append(
        UploadFile.objects.filter(instances__series__study=study)
        .exclude(instances__series=small)
        .first()
    )
    keys = [row.key for row in doomed]
    preview = small.preview_key
    client.force_login(sam)

    response = _remove_in_admin(client, doomed)

    assert response.status_code == 302
    upload.refresh_from_db()
    study.refresh_from_db()
    assert (upload.file_count, study.instance_count, study.series_count) == (2, 2, 1)
    assert upload.total_bytes == sum(upload.files.values_list("size", flat=True))
    assert not Series.objects.filter(pk=small.pk).exists()
    big = Series.objects.get(study=study)
    assert big.instance_count == Instance.objects.filter(series=big).count() == 2
    assert not any(default_storage.exists(key) for key in [*keys, preview])
    line = case.events.latest("at")
    assert (line.actor, line.message) == (
        sam,
        "The care team removed 3 image files: Wrong patient's image.",
    )
    audited = AuditEvent.objects.filter(action=AuditEvent.Action.ADMIN_ACTION, actor=sam)
    assert sorted(audited.values_list("target_code", flat=True)) == sorted(
        str(row.code) for row in doomed
    )
    assert set(audited.values_list("case_code", flat=True)) == {case.code}


def test_removing_every_image_of_a_study_removes_the_study(client, sam, reviewed_case):
    _, upload = reviewed_case
    client.force_login(sam)
    _remove_in_admin(client, list(upload.files.all()))
    upload.refresh_from_db()
    assert (upload.file_count, upload.total_bytes) == (0, 0)
    assert not Study.objects.filter(upload=upload).exists()
    assert not default_storage.listdir(upload.prefix)[1]


def test_the_admin_has_no_other_way_to_delete_a_file(client, reviewed_case):
    _, upload = reviewed_case
    row = upload.files.first()
    client.force_login(make_user("root@example.com", is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:records_uploadfile_delete", args=[row.pk])).status_code in (
        302,
        403,
    )
    client.post(
        reverse("admin:records_uploadfile_changelist"),
        {"action": "delete_selected", helpers.ACTION_CHECKBOX_NAME: [row.pk], "post": "yes"},
    )
    client.post(reverse("admin:records_upload_delete", args=[upload.pk]), {"post": "yes"})
    assert UploadFile.objects.filter(pk=row.pk).exists()
    assert default_storage.exists(row.key)
