"""Wrong files in a patient's upload, through the worker to what the records step shows: the
specific reason, and the good images kept."""

from PIL import Image

from records.models import Upload
from requests_app import flow
from tests.conftest import make_case, upload_folder
from tests.records.dicom_factory import write_series
from tests.records.test_archives import deflated_entry, write_raw_zip

ATTACK = "../../../etc/cron.d/evil"


def _checked(case, folder) -> Upload:
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    return upload


def test_a_photo_named_dcm_is_called_a_photo(alice, tmp_path):
    case = make_case(alice, complete=True)
    write_series(tmp_path / "DICOM", n=3)
    Image.new("RGB", (40, 30), "white").save(tmp_path / "screenshot.dcm", format="JPEG")

    upload = _checked(case, tmp_path)

    photo = upload.problems.get(path="screenshot.dcm")
    assert photo.code == "photo"
    assert photo.message.startswith("This file is a photo or a screenshot")
    assert "folder named DICOM" in photo.message
    assert upload.status == Upload.Status.VALID


def test_a_zip_with_unsafe_and_broken_members_keeps_its_good_images(alice, tmp_path):
    case = make_case(alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01")
    images = write_series(tmp_path / "src", n=2)
    broken = deflated_entry("DICOM/IM0003", b"not really an image" * 20)
    broken.crc ^= 0xFFFF
    (tmp_path / "upload").mkdir()
    write_raw_zip(
        tmp_path / "upload" / "study.zip",
        [
            deflated_entry("DICOM/IM0001", images[0].read_bytes()),
            deflated_entry("DICOM/IM0002", images[1].read_bytes()),
            deflated_entry(ATTACK, b"#!/bin/sh\n"),
            broken,
        ],
    )

    upload = _checked(case, tmp_path / "upload")

    assert upload.status == Upload.Status.VALID
    assert upload.dicom_count == 2
    shown = {p.code: p for p in upload.problems.all()}
    assert set(shown) == {"archive_unsafe_members", "archive_damaged_members"}
    assert shown["archive_unsafe_members"].message.startswith(
        "We left 1 file of this zip out for safety and kept its other images."
    )
    assert shown["archive_damaged_members"].message.startswith(
        "1 file in this zip was damaged, so we left it out and kept its other images."
    )
    for problem in shown.values():
        assert problem.path == "study.zip"
        assert "etc" not in problem.message + problem.path
