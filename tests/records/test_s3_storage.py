"""The same records flow on S3 storage, against a real S3 HTTP API on loopback.

The bucket's storage is built by production's `s3_storage` (settings), so encryption at rest and
the lifetime of presigned links are checked as production configures them.
"""

import json
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from records.models import Document, Series, Upload, UploadFile
from requests_app import flow
from reviewers import services as reviewer_services
from reviewers.models import Opinion
from tests.conftest import make_case, make_pdf, upload_folder
from tests.records.dicom_factory import write_series
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.services import Workers

pytestmark = pytest.mark.services


def encryption(s3_bucket, key: str) -> str | None:
    """How the bucket says it keeps the object at rest (absent: not encrypted)."""
    return s3_bucket.head_object(Bucket=s3_bucket.bucket, Key=key).get("ServerSideEncryption")


def bucket_keys(s3_bucket) -> set[str]:
    listed = s3_bucket.list_objects_v2(Bucket=s3_bucket.bucket).get("Contents", [])
    return {o["Key"] for o in listed}


def test_report_goes_to_a_private_key_under_the_case_and_comes_back(client, alice, s3_bucket):
    case = make_case(alice, complete=True)
    client.force_login(alice)
    content = make_pdf(pages=2)
    client.post(
        reverse("records:document-add", args=[case.code]),
        {"kind": "original_report", "file": SimpleUploadedFile("report.pdf", content)},
    )
    doc = case.documents.get()
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket=s3_bucket.bucket)["Contents"]]
    assert keys == [doc.file.name]
    assert keys[0] == f"cases/{case.code}/documents/{doc.code}.pdf"
    assert encryption(s3_bucket, keys[0]) == "AES256"

    endpoint = s3_bucket.meta.endpoint_url
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{endpoint}/{s3_bucket.bucket}/{keys[0]}")  # noqa: S310
    assert denied.value.code == 403

    response = client.get(reverse("records:document-download", args=[case.code, doc.code]))
    assert b"".join(response.streaming_content) == content

    client.post(reverse("records:document-delete", args=[case.code, doc.code]))
    assert s3_bucket.list_objects_v2(Bucket=s3_bucket.bucket)["KeyCount"] == 0


def test_image_files_go_to_opaque_keys_in_the_bucket(client, alice, s3_bucket):
    case = make_case(alice)
    client.force_login(alice)
    client.post(
        reverse("records:images-add", args=[case.code]),
        {
            "folder": [SimpleUploadedFile("IM1", b"\x00" * 128 + b"DICM" + b"\x02" * 32)],
            "relative_paths": '["CD/DICOM/ST1/IM1"]',
        },
    )
    upload = case.uploads.get()
    row = upload.files.get()
    assert row.relative_path == "CD/DICOM/ST1/IM1"
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket=s3_bucket.bucket)["Contents"]]
    assert keys == [f"cases/{case.code}/uploads/{upload.code}/{row.code}"]
    assert encryption(s3_bucket, keys[0]) == "AES256"


def test_every_object_a_case_leaves_in_the_bucket_is_encrypted_at_rest(alice, s3_bucket, tmp_path):
    # A checked CD with the original report: images, previews, the report PDF.
    case, _ = validated_case(alice, tmp_path / "cd")
    # A zip: the check stores each image it unpacks as an object of its own.
    series = write_series(tmp_path / "series", n=3)
    (tmp_path / "portal").mkdir()
    with zipfile.ZipFile(tmp_path / "portal" / "download.zip", "w") as archive:
        for path in series:
            archive.write(path, f"DICOM/{path.name}")
    zipped = upload_folder(make_case(alice, complete=True), tmp_path / "portal")
    flow.check_upload(zipped.pk)
    assert Upload.objects.get(pk=zipped.pk).status == Upload.Status.VALID
    # The specialist's signed report.
    reader = make_reviewer("nils@example.com", "Dr. Nils Berg")
    reviewer_services.claim_case(case, reviewer=reader, by=reader.user)
    opinion = reviewer_services.open_opinion(case, reader)
    reviewer_services.file_blind_read(opinion, by=reader.user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(opinion, by=reader.user, radpeer="1", patient_summary="S.")
    reviewer_services.sign_report(opinion, by=reader.user, signed_name="Dr. Nils Berg")

    kinds = {
        "document": {d.file.name for d in Document.objects.all()},
        "image": {f.key for f in UploadFile.objects.filter(extracted_from__isnull=True)},
        "unpacked": {f.key for f in UploadFile.objects.filter(extracted_from__isnull=False)},
        "preview": {s.preview_key for s in Series.objects.exclude(preview_key="")},
        "signed report": {o.pdf.name for o in Opinion.objects.exclude(pdf="")},
    }
    assert all(kinds.values()), {kind: len(keys) for kind, keys in kinds.items()}
    stored = bucket_keys(s3_bucket)
    assert stored == set().union(*kinds.values())  # nothing stored that is not listed above
    plain = [key for key in sorted(stored) if encryption(s3_bucket, key) != "AES256"]
    assert not plain, plain


def test_a_presigned_link_lives_as_long_as_the_setting_says(settings, s3_bucket):
    key = default_storage.save("cases/link-test/file.bin", ContentFile(b"signed bytes"))
    url = default_storage.url(key)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(settings.S3_URL_MAX_AGE)] == ["300"]
    with urllib.request.urlopen(url) as response:  # noqa: S310 (loopback S3 API)
        assert response.read() == b"signed bytes"


def test_a_worker_builds_the_same_storage_whatever_the_shell_says(
    settings, s3_bucket, tmp_path, monkeypatch
):
    monkeypatch.setenv("AWS_S3_ENCRYPTION", "false")  # e.g. left over from the compose stack
    env = Workers(settings, tmp_path).environment(visibility_timeout=None, extra={})
    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from django.conf import settings;"
            "print(json.dumps(settings.STORAGES['default']))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == settings.STORAGES["default"]
