"""Download everything: the patient's images laid out as a DICOM File-set with its DICOMDIR,
the original report, the signed report and a README, in one streamed zip of known length."""

import io
import zipfile

import pydicom
import pytest
from django.test import Client
from django.urls import reverse
from pydicom.fileset import FileSet

from requests_app.models import AuditEvent
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed


@pytest.fixture
def reported(alice, rita, tmp_path):
    case, files = validated_case(alice, tmp_path / "upload")
    opinion = _signed(case, make_reviewer(rita.email, "Dr. Rita Novak", user=rita))
    return case, opinion, files


def _download(client: Client, case):
    return client.get(reverse("opinions:download-everything", args=[case.code]))


def test_the_download_opens_as_a_dicom_file_set_with_every_listed_file(
    client, alice, reported, tmp_path
):
    case, opinion, files = reported
    client.force_login(alice)
    answer = _download(client, case)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    body = b"".join(answer.streaming_content)
    assert int(answer["Content-Length"]) == len(body)
    assert "everything.zip" in answer["Content-Disposition"]

    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        archive.extractall(folder)
    assert {"README.txt", "DICOMDIR", "REPORTS/original-report.pdf"} <= set(names)
    [second] = [n for n in names if n.startswith("REPORTS/second-opinion-")]
    assert (folder / second).read_bytes().startswith(b"%PDF")
    assert (folder / "REPORTS/original-report.pdf").read_bytes().startswith(b"%PDF")
    readme = (folder / "README.txt").read_text()
    assert "DICOMDIR" in readme and "original-report.pdf" in readme

    fs = FileSet(folder / "DICOMDIR")
    listed = list(fs)
    assert len(listed) == len(files) == 10
    originals = {pydicom.dcmread(path).SOPInstanceUID for path in files}
    for instance in listed:
        stored = pydicom.dcmread(instance.path)  # the file the DICOMDIR names exists
        assert stored.SOPInstanceUID == instance.SOPInstanceUID
        assert stored.file_meta.TransferSyntaxUID == instance.ReferencedTransferSyntaxUIDInFile
    assert {instance.SOPInstanceUID for instance in listed} == originals
    assert len(fs.find_values("SeriesInstanceUID")) == 2

    events = AuditEvent.objects.filter(target_type="export", action="download")
    assert sorted(events.values_list("target_code", flat=True)) == sorted(
        [str(case.studies.get().code), str(case.documents.get().code), str(opinion.code)]
    )


def test_only_the_patient_downloads_their_own_case(client, bob, rita, reported):
    case, _, _ = reported
    for user in (bob, rita):
        client.force_login(user)
        assert _download(client, case).status_code == 404
    assert AuditEvent.objects.filter(target_type="export", action="denied").count() == 2
    assert not AuditEvent.objects.filter(target_type="export", action="download").exists()
    assert _download(Client(), case).status_code == 302  # to log in
