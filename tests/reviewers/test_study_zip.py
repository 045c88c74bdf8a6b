"""The study download: a stored zip sent from storage, exact size up front, audited."""

import io
import zipfile
import zlib
from datetime import datetime

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from records import studyzip
from records.models import UploadFile
from records.storedzip import Entry, StoredZip
from requests_app.models import AuditEvent
from reviewers import services
from tests.records.test_validation import hostile_zip
from tests.reviewers.conftest import validated_case


def _download(client, case):
    response = client.get(reverse("reviewers:study-zip", args=[case.code]))
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, body


def _stored(row: UploadFile) -> bytes:
    with default_storage.open(row.key, "rb") as handle:
        return handle.read()


def _assert_same_files(body: bytes, folder, files) -> None:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        expected = {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}
        assert {i.filename for i in infos} == set(expected)
        for info in infos:
            assert archive.read(info) == expected[info.filename], info.filename


def test_claimed_case_downloads_as_a_stored_zip_of_the_uploaded_folders(
    client, alice, rita_profile, tmp_path
):
    case, files = validated_case(alice, tmp_path)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    response, body = _download(client, case)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert int(response["Content-Length"]) == len(body)
    assert f"case-{case.short_code}-study.zip" in response["Content-Disposition"]
    assert "Jane" not in response["Content-Disposition"]
    _assert_same_files(body, tmp_path, files)  # CD/DICOM/SER1/IM0001 ... byte for byte
    audit = AuditEvent.objects.get(target_type="study", case_code=case.code)
    assert (audit.action, audit.actor) == (AuditEvent.Action.DOWNLOAD, rita_profile.user)


def test_a_case_waiting_in_the_queue_shows_its_question_but_not_its_images(
    client, alice, rita_profile, tmp_path
):
    case, _ = validated_case(alice, tmp_path)
    client.force_login(rita_profile.user)
    assert client.get(reverse("reviewers:case-detail", args=[case.code])).status_code == 200
    response, _ = _download(client, case)
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(target_type="study").exists()


def test_zip_streams_from_s3_storage_too(client, alice, rita_profile, tmp_path, s3_bucket):
    case, files = validated_case(alice, tmp_path)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    response, body = _download(client, case)
    assert response.status_code == 200 and int(response["Content-Length"]) == len(body)
    _assert_same_files(body, tmp_path, files)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_patients_get_404_for_the_reviewer_download(client, alice, who, request, tmp_path):
    case, _ = validated_case(alice, tmp_path)
    client.force_login(request.getfixturevalue(who))
    assert _download(client, case)[0].status_code == 404


def test_the_zip_goes_out_in_large_pieces_with_the_size_announced():
    slices = [bytes([n]) * 700_000 for n in range(3)]  # smaller than a chunk, as MR slices are
    announced = StoredZip(
        [Entry.of_bytes(f"CD/IM{n}", data) for n, data in enumerate(slices)],
        modified=datetime(2026, 1, 2, 3, 4, 6),
    )
    pieces = list(studyzip.in_chunks(announced))
    assert all(len(piece) >= studyzip.CHUNK for piece in pieces[:-1]) and len(pieces) == 2
    body = b"".join(pieces)
    assert len(body) == len(announced)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert [archive.read(f"CD/IM{n}") for n in range(3)] == slices


def test_files_stored_before_their_crc_was_kept_still_download_whole(
    client, alice, rita_profile, tmp_path
):
    case, files = validated_case(alice, tmp_path)
    rows = studyzip.study_files(case)
    assert all(row.crc32 == zlib.crc32(_stored(row)) for row in rows)  # taken as received
    UploadFile.objects.filter(pk__in=[row.pk for row in rows[::2]]).update(crc32=None)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)

    response, body = _download(client, case)

    assert response.status_code == 200 and int(response["Content-Length"]) == len(body)
    _assert_same_files(body, tmp_path, files)


def _entries(body: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return [info.filename for info in archive.infolist()]


def _safe(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and "\\" not in name and ".." not in parts and "" not in parts


def test_a_hostile_folder_name_never_reaches_the_zip_as_a_parent_folder(
    client, alice, rita_profile, tmp_path
):
    hostile_zip(tmp_path / "upload", tmp_path / "scratch")  # uploaded beside the CD
    case, _ = validated_case(alice, tmp_path / "upload")
    assert UploadFile.objects.filter(upload__case=case, extracted_from__isnull=False).exists()
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)

    response, body = _download(client, case)

    names = _entries(body)
    assert response.status_code == 200 and len(names) == 11
    assert all(_safe(name) for name in names), [n for n in names if not _safe(n)]


@pytest.mark.parametrize(
    "stored",
    ["../../etc/passwd", "/root/.ssh/id_rsa", "..\\..\\boot.ini", "C:/Windows/win.ini", "./../"],
)
def test_the_zip_writer_normalises_any_unsafe_stored_name(
    client, alice, rita_profile, tmp_path, stored
):
    case, _ = validated_case(alice, tmp_path)
    UploadFile.objects.filter(pk=studyzip.study_files(case)[0].pk).update(relative_path=stored)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)

    response, body = _download(client, case)

    names = _entries(body)
    assert response.status_code == 200 and len(names) == 10
    assert all(_safe(name) and not name.startswith("C:") for name in names), names
