"""The de-identified copy a worker makes of the patient's images, and its download."""

import io
import uuid
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from pydicom.fileset import FileSet

from records import export, studyzip
from records.tasks import deidentified_copy_task
from requests_app.models import AuditEvent, Notification
from tests.records.dicom_factory import BIRTH_DATE, PATIENT_ID, PATIENT_NAME
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed
from tests.security.test_bad_inputs import DICOM_CASES


@pytest.fixture
def reported(alice, rita, tmp_path):
    case, files = validated_case(alice, tmp_path / "upload")
    _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    return case, files


def test_the_copy_names_no_one_and_opens_as_a_file_set(client, alice, reported, tmp_path):
    case, files = reported
    client.force_login(alice)
    identifiers = [PATIENT_NAME, PATIENT_ID, BIRTH_DATE, "SYNACC1"]
    assert all(identifier.encode() in files[0].read_bytes() for identifier in identifiers)

    deidentified_copy_task(case.pk)
    told = alice.notifications.get(kind=Notification.Kind.STATUS, title__contains="de-identified")
    answer = client.get(told.link)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    body = b"".join(answer.streaming_content)
    assert int(answer["Content-Length"]) == len(body)
    folder = tmp_path / "copy"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        archive.extractall(folder)
        names = archive.namelist()
    assert "README.txt" in names and not any(name.endswith(".pdf") for name in names)
    fs = FileSet(folder / "DICOMDIR")
    assert len(fs) == len(files)
    for instance in fs:
        data = Path(instance.path).read_bytes()
        for identifier in identifiers:
            assert identifier.encode() not in data, identifier
    dicomdir = (folder / "DICOMDIR").read_bytes()
    assert not any(identifier.encode() in dicomdir for identifier in identifiers)
    event = AuditEvent.objects.get(target_type="deidentified", action="download")
    assert event.target_code in told.link


def test_only_the_patient_gets_the_copy(
    client, alice, bob, reported, django_capture_on_commit_callbacks
):
    case, _ = reported
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        made = client.post(reverse("opinions:deidentified-make", args=[case.code]))
    assert made.status_code == 302 and len(queued) == 1
    deidentified_copy_task(case.pk)
    link = alice.notifications.get(title__contains="de-identified").link
    client.force_login(bob)
    assert client.get(link).status_code == 404
    with django_capture_on_commit_callbacks(execute=False) as queued:
        refused = client.post(reverse("opinions:deidentified-make", args=[case.code]))
    assert refused.status_code == 404 and not queued
    client.force_login(alice)
    assert client.get(link.replace(link[-40:-4], str(uuid.uuid4()))).status_code == 404


def test_a_file_the_recipe_cannot_clean_is_left_out_and_the_readme_says_why(
    alice, reported, tmp_path
):
    """A stored image damaged after its check (the catalogue's bad VR: an element swallows the
    rest of the header, names included) is not copied; the others are, and the README says so."""
    case, files = reported
    damaged = next(iter(DICOM_CASES["bad_vr"].build(tmp_path).values()))
    row = studyzip.study_files(case)[0]
    default_storage.delete(row.key)
    default_storage.save(row.key, ContentFile(damaged))

    copy, count = export.make_deidentified(case)

    assert count == len(files) - 1
    with default_storage.open(export.deidentified_key(case, copy), "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    readme = archive.read("README.txt").decode()
    assert "Files left out of this copy, and why:\n- 1 file: a damaged element" in readme
    for name in archive.namelist():
        assert not any(i.encode() in archive.read(name) for i in (PATIENT_NAME, PATIENT_ID))
