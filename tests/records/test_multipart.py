"""The study upload protocol end to end: create, sign, put parts, list, complete, finish."""

import hashlib
import json
import os
import urllib.request
import zlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from records import services as records_services
from records.models import Upload, UploadFile
from records.multipart import PART_URL_MAX_AGE
from records.validation import validate_upload
from requests_app.tasks import sweep_uploads_task
from tests.conftest import make_case

PART = 5 * 1024 * 1024


class Patient:
    """Drives the endpoints the way the browser's uploader does."""

    def __init__(self, client, case):
        self.client, self.case = client, case

    def start(self) -> dict:
        response = self.client.post(reverse("records:upload-start", args=[self.case.code]))
        assert response.status_code == 201, response.content
        return response.json()

    def create_file(self, batch: dict, path: str, size: int) -> dict:
        response = self.client.post(
            batch["files"],
            json.dumps({"relativePath": path, "size": size}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        return response.json()

    def file_url(self, batch: dict, key: str, *rest: str) -> str:
        return f"{batch['files']}{key}/" + "".join(f"{r}/" for r in rest)

    def put_part(self, batch: dict, key: str, number: int, data: bytes) -> str:
        signed = self.client.get(self.file_url(batch, key, "parts", str(number))).json()["url"]
        if signed.startswith("http://testserver"):
            response = self.client.put(signed, data, content_type="application/octet-stream")
            assert response.status_code == 200, response.content
            return response["ETag"]
        request = urllib.request.Request(  # noqa: S310
            signed, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310 (loopback S3 API)
            return response.headers["ETag"]

    def list_parts(self, batch: dict, key: str) -> list[dict]:
        return self.client.get(self.file_url(batch, key, "parts")).json()

    def complete(self, batch: dict, key: str, parts: list[dict]):
        return self.client.post(
            self.file_url(batch, key, "complete"),
            json.dumps({"parts": parts}),
            content_type="application/json",
        )

    def send(self, batch: dict, path: str, data: bytes) -> str:
        created = self.create_file(batch, path, len(data))
        key = created["key"]
        parts = []
        for index in range(0, max(len(data), 1), PART):
            number = index // PART + 1
            etag = self.put_part(batch, key, number, data[index : index + PART])
            parts.append({"PartNumber": number, "ETag": etag})
        assert self.complete(batch, key, parts).status_code == 200
        return key

    def finish(self, batch: dict):
        return self.client.post(batch["finish"])


@pytest.fixture
def patient(client, alice):
    client.force_login(alice)
    return Patient(client, make_case(alice, complete=True))


def _stored_bytes(row: UploadFile) -> bytes:
    with default_storage.open(row.key, "rb") as handle:
        return handle.read()


def test_folder_upload_keeps_layout_in_rows_and_opaque_keys(patient, settings):
    batch = patient.start()
    big = bytes(range(256)) * (PART // 256 * 2 + 1000)  # three parts
    patient.send(batch, "JANE_DOE_CD/DICOM/ST1/IM0001", big)
    patient.send(batch, "JANE_DOE_CD/DICOMDIR", b"index")
    response = patient.finish(batch)
    assert response.json()["files"] == 2

    upload = Upload.objects.get(code=batch["upload"])
    assert upload.status == Upload.Status.RECEIVED
    assert upload.total_bytes == len(big) + 5
    rows = {r.relative_path: r for r in upload.files.all()}
    assert set(rows) == {"JANE_DOE_CD/DICOM/ST1/IM0001", "JANE_DOE_CD/DICOMDIR"}
    row = rows["JANE_DOE_CD/DICOM/ST1/IM0001"]
    assert _stored_bytes(row) == big
    assert row.sha256 == ""  # not read back while the browser waits: the check hashes it
    assert "JANE" not in row.key and row.key == f"{upload.prefix}{row.code}"
    assert not any(settings.MULTIPART_DIR.iterdir())  # the parts were cleaned up

    validate_upload(upload.pk)
    hashed = {row.relative_path: (row.sha256, row.crc32) for row in upload.files.all()}
    assert hashed == {  # both in the one pass that reads the file
        "JANE_DOE_CD/DICOM/ST1/IM0001": (hashlib.sha256(big).hexdigest(), zlib.crc32(big)),
        "JANE_DOE_CD/DICOMDIR": (hashlib.sha256(b"index").hexdigest(), zlib.crc32(b"index")),
    }


def test_interrupted_upload_lists_received_parts_and_resumes(patient):
    batch = patient.start()
    data = b"x" * (PART + 10)
    key = patient.create_file(batch, "IM1", len(data))["key"]
    first = patient.put_part(batch, key, 1, data[:PART])
    # The connection drops here; the browser comes back and asks what already arrived.
    assert patient.list_parts(batch, key) == [{"PartNumber": 1, "Size": PART, "ETag": first}]
    second = patient.put_part(batch, key, 2, data[PART:])
    parts = [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
    assert patient.complete(batch, key, parts).status_code == 200
    assert patient.complete(batch, key, parts).status_code == 200  # a retry is harmless
    patient.finish(batch)
    assert _stored_bytes(UploadFile.objects.get(code=key)) == data


def test_parts_land_in_place_and_the_file_is_linked_not_copied(patient, settings):
    batch = patient.start()
    data = bytes(range(256)) * (PART // 256 * 2) + b"tail"  # two full parts and a short one
    key = patient.create_file(batch, "CD/IM1", len(data))["key"]
    # the short last part first, before part 1 says how long the parts are
    etags = {n: patient.put_part(batch, key, n, data[(n - 1) * PART : n * PART]) for n in (3, 1, 2)}
    (received,) = settings.MULTIPART_DIR.glob("*/data")
    inode = received.stat().st_ino
    parts = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]
    assert patient.complete(batch, key, parts).status_code == 200
    row = UploadFile.objects.get(code=key)
    assert os.stat(default_storage.path(row.key)).st_ino == inode  # written to disk once
    assert _stored_bytes(row) == data
    assert row.size == len(data) and row.sha256 == ""  # and not read back to be hashed
    assert not any(settings.MULTIPART_DIR.iterdir())


def test_parts_of_uneven_lengths_are_refused_rather_than_misplaced(patient):
    batch = patient.start()
    data = b"ab" + b"cdef" + b"gh"
    key = patient.create_file(batch, "IM1", len(data))["key"]
    pieces = {1: data[:2], 2: data[2:6], 3: data[6:]}
    parts = [
        {"PartNumber": n, "ETag": patient.put_part(batch, key, n, b)} for n, b in pieces.items()
    ]
    response = patient.complete(batch, key, parts)
    assert response.status_code == 409
    assert "do not fit" in response.json()["error"]
    assert UploadFile.objects.get(code=key).status == UploadFile.Status.RECEIVING


def test_a_part_sent_again_completes_only_with_its_latest_etag(patient):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    stale = patient.put_part(batch, key, 1, b"0123456789")
    fresh = patient.put_part(batch, key, 1, b"9876543210")  # the browser retried the part
    assert fresh != stale
    response = patient.complete(batch, key, [{"PartNumber": 1, "ETag": stale}])
    assert response.status_code == 409
    assert patient.complete(batch, key, [{"PartNumber": 1, "ETag": fresh}]).status_code == 200
    assert _stored_bytes(UploadFile.objects.get(code=key)) == b"9876543210"


def test_completing_with_a_missing_part_is_refused_and_nothing_is_lost(patient):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    etag = patient.put_part(batch, key, 1, b"0123456789")
    response = patient.complete(batch, key, [{"PartNumber": 2, "ETag": etag}])
    assert response.status_code == 409
    assert "missing" in response.json()["error"]
    assert patient.complete(batch, key, [{"PartNumber": 1, "ETag": etag}]).status_code == 200


def test_unfinished_files_are_dropped_when_the_batch_finishes(patient):
    batch = patient.start()
    patient.send(batch, "IM1", b"complete file")
    stalled = patient.create_file(batch, "IM2", 100)["key"]
    patient.finish(batch)
    assert not UploadFile.objects.filter(code=stalled).exists()
    assert Upload.objects.get(code=batch["upload"]).file_count == 1


def test_finishing_with_nothing_received_says_so(patient):
    batch = patient.start()
    response = patient.finish(batch)
    assert response.status_code == 409
    assert response.json()["error"] == "None of the files arrived. Please choose them again."


def test_file_over_the_case_allowance_is_refused(patient, settings):
    settings.UPLOAD_CASE_QUOTA_BYTES = 1000
    batch = patient.start()
    response = patient.client.post(
        batch["files"], json.dumps({"relativePath": "IM1", "size": 2000}), "application/json"
    )
    assert response.status_code == 400
    assert "can hold up to 1000" in response.json()["error"]


def test_bob_cannot_touch_alices_upload(patient, client, bob):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    signed = patient.client.get(patient.file_url(batch, key, "parts", "1")).json()["url"]
    client.force_login(bob)
    assert client.post(batch["files"], "{}", "application/json").status_code == 404
    assert client.get(patient.file_url(batch, key, "parts")).status_code == 404
    assert client.post(batch["finish"]).status_code == 404
    assert client.put(signed, b"evil", "application/octet-stream").status_code == 403
    case_code = patient.case.code
    assert client.post(reverse("records:upload-start", args=[case_code])).status_code == 404


def test_tampered_part_link_is_refused(patient):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    signed = patient.client.get(patient.file_url(batch, key, "parts", "1")).json()["url"]
    response = patient.client.put(signed[:-3] + "xx/", b"data", "application/octet-stream")
    assert response.status_code == 403


@pytest.mark.services
def test_on_s3_parts_go_straight_to_the_bucket(patient, s3_bucket):
    batch = patient.start()
    data = b"\x00\x01" * (PART // 2) + b"tail"
    key = patient.send(batch, "CD/IM1", data)
    signed = patient.client.get(patient.file_url(batch, key, "parts", "1"))
    assert signed.status_code == 409  # the file is complete: no more parts
    patient.finish(batch)
    row = UploadFile.objects.get(code=key)
    stored = s3_bucket.get_object(Bucket=s3_bucket.bucket, Key=row.key)
    assert stored["Body"].read() == data
    assert stored["ServerSideEncryption"] == "AES256"  # asked for when the upload was created
    assert row.size == len(data) and row.sha256 == ""  # the worker hashes what it reads
    validate_upload(row.upload_id)
    row.refresh_from_db()
    assert (row.sha256, row.crc32) == (hashlib.sha256(data).hexdigest(), zlib.crc32(data))


@pytest.mark.services
@pytest.mark.parametrize("public_host", ["", "localhost"])
def test_on_s3_part_links_are_signed_with_version_4_and_last_six_hours(
    patient, s3_bucket, settings, public_host
):
    endpoint = urlsplit(s3_bucket.meta.endpoint_url)
    if public_host:  # browsers reach the bucket by another address than the web process
        settings.AWS_S3_PUBLIC_ENDPOINT_URL = f"http://{public_host}:{endpoint.port}"
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    signed = urlsplit(patient.client.get(patient.file_url(batch, key, "parts", "1")).json()["url"])
    query = parse_qs(signed.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(PART_URL_MAX_AGE)] == [str(6 * 3600)]
    assert signed.hostname == (public_host or endpoint.hostname)
    etag = patient.put_part(batch, key, 1, b"0123456789")
    assert patient.complete(batch, key, [{"PartNumber": 1, "ETag": etag}]).status_code == 200


def test_on_s3_a_file_larger_than_announced_is_not_kept(patient, s3_bucket):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 4)["key"]  # counted against the allowance as 4 bytes
    etag = patient.put_part(batch, key, 1, b"far more than four bytes")
    response = patient.complete(batch, key, [{"PartNumber": 1, "ETag": etag}])
    assert response.status_code == 409
    assert "instead of the 4" in response.json()["error"]
    assert not UploadFile.objects.filter(code=key).exists()
    listed = s3_bucket.list_objects_v2(Bucket=s3_bucket.bucket).get("Contents", [])
    assert listed == []


def _multipart_folders(settings) -> set[str]:
    return {entry.name for entry in settings.MULTIPART_DIR.iterdir()}


def test_an_upload_left_unfinished_for_a_week_is_removed_with_its_parts(patient, settings):
    old = patient.start()
    kept_key = patient.send(old, "CD/IM1", b"a whole file")
    half = patient.create_file(old, "CD/IM2", 2 * PART)["key"]
    patient.put_part(old, half, 1, b"x" * PART)
    recent = patient.start()
    patient.create_file(recent, "IM1", 10)
    stored = UploadFile.objects.get(code=kept_key).key
    before = _multipart_folders(settings)
    Upload.objects.filter(code=old["upload"]).update(
        created_at=timezone.now() - timedelta(days=settings.UPLOAD_ABANDONED_AFTER_DAYS, hours=1)
    )

    sweep_uploads_task()  # as beat runs it

    assert not Upload.objects.filter(code=old["upload"]).exists()
    assert Upload.objects.filter(code=recent["upload"], status="receiving").exists()
    assert not default_storage.exists(stored)
    assert len(before - _multipart_folders(settings)) == 1  # the half-sent file's parts
    line = patient.case.events.latest("at").message
    assert "was never finished" in line and "Please add the images again" in line


@pytest.mark.django_db(transaction=True)
def test_a_file_whose_row_cannot_be_saved_leaves_no_parts_folder(alice, settings):
    upload = records_services.start_upload(make_case(alice, complete=True), by=alice)
    Upload.objects.filter(pk=upload.pk).delete()  # gone under our feet
    before = _multipart_folders(settings)

    # Seen as gone under the case's lock (or, failing that, by the foreign key).
    with pytest.raises((records_services.RecordError, IntegrityError)):
        records_services.start_file(upload, relative_path="IM1", size=10)

    assert _multipart_folders(settings) == before


def _bytes_under(folder) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def _put(patient: Patient, batch: dict, key: str, number: int, data: bytes, **extra):
    signed = patient.client.get(patient.file_url(batch, key, "parts", str(number))).json()["url"]
    return patient.client.put(signed, data, content_type="application/octet-stream", **extra)


def test_parts_beyond_the_declared_size_are_refused_and_not_written(patient, settings):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]  # counted against the allowance as 10 B

    answers = [_put(patient, batch, key, n, b"\x00" * PART).status_code for n in range(1, 6)]

    assert answers == [409] * 5
    assert _bytes_under(settings.MULTIPART_DIR) <= 4096  # not 25 MiB: at most a marker or two
    assert patient.list_parts(batch, key) == []


def test_small_parts_cannot_add_up_beyond_the_declared_size(patient, settings):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    assert _put(patient, batch, key, 2, b"efgh").status_code == 200  # before part 1: unplaced
    assert _put(patient, batch, key, 1, b"abcd").status_code == 200
    too_many = _put(patient, batch, key, 3, b"ijkl")  # 12 bytes in all
    assert too_many.status_code == 409
    assert too_many.json()["error"] == "This part goes beyond the size announced for the file."
    assert _put(patient, batch, key, 4, b"i").status_code == 409  # the file has no part 4
    assert _put(patient, batch, key, 2, b"efgh").status_code == 200  # a retry takes no more room
    last = _put(patient, batch, key, 3, b"ij")
    assert last.status_code == 200
    parts = [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in patient.list_parts(batch, key)
    ]
    assert patient.complete(batch, key, parts).status_code == 200
    assert _stored_bytes(UploadFile.objects.get(code=key)) == b"abcdefghij"


def test_parts_that_stop_short_of_the_declared_size_are_not_kept(patient, settings):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    etag = patient.put_part(batch, key, 1, b"abcd")

    response = patient.complete(batch, key, [{"PartNumber": 1, "ETag": etag}])

    assert response.status_code == 409
    assert "instead of the 10" in response.json()["error"]
    assert not UploadFile.objects.filter(code=key).exists()
    assert not any(settings.MULTIPART_DIR.iterdir())
    assert not [p for p in Path(default_storage.location).rglob("*") if p.is_file()]


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_a_part_with_an_unreadable_content_length_is_a_400(patient, length):
    batch = patient.start()
    key = patient.create_file(batch, "IM1", 10)["key"]
    response = _put(patient, batch, key, 1, b"0123456789", CONTENT_LENGTH=length)
    assert response.status_code == 400
    assert (
        response.json()["error"] == "This part's length could not be read. The upload will retry."
    )
