"""The same records flow on S3 storage, against a real S3 HTTP API on loopback."""

import urllib.error
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import make_case, make_pdf

pytestmark = pytest.mark.services


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
