"""Nothing stays on disk without a row that leads to it, whatever was deleted and when."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from records import dicom, multipart
from records import services as records_services
from records.models import Document, Series, Upload, UploadFile
from requests_app import flow
from requests_app.models import Case
from tests.conftest import make_case, pdf_upload, upload_folder
from tests.records.dicom_factory import write_series


def orphans(settings) -> list[str]:
    """Stored files and folders of parts that no row names."""
    named = {row.key for row in UploadFile.objects.select_related("upload__case")}
    named |= set(Series.objects.exclude(preview_key="").values_list("preview_key", flat=True))
    named |= set(Document.objects.values_list("file", flat=True))
    media = Path(default_storage.location)
    found = [p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()]
    receiving = set(
        UploadFile.objects.filter(status=UploadFile.Status.RECEIVING).values_list(
            "multipart_id", flat=True
        )
    )
    parts = [p.name for p in Path(settings.MULTIPART_DIR).iterdir() if p.name not in receiving]
    return sorted({*found} - named) + parts


def _checked(case: Case, folder: Path) -> Upload:
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.VALID
    assert Series.objects.filter(study__upload=upload).exclude(preview_key="").exists()
    return upload


def _zipped_series(folder: Path) -> Path:
    """A portal's zip of a series: its images are unpacked and stored by the check."""
    images = write_series(folder / "series", n=3)
    archive = folder / "upload" / "portal.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in images:
            zipped.write(path, f"DICOM/{path.name}")
    return archive.parent


def test_deleting_a_checked_upload_leaves_no_preview_behind(alice, tmp_path, settings):
    case = make_case(alice, complete=True)
    upload = _checked(case, _zipped_series(tmp_path))

    records_services.delete_upload(upload, by=alice)

    assert not Upload.objects.filter(pk=upload.pk).exists()
    assert orphans(settings) == []
    assert not [p for p in Path(default_storage.location).rglob("*") if p.is_file()]


def test_deleting_a_draft_leaves_no_preview_and_no_parts_behind(alice, tmp_path, settings):
    case = make_case(alice, complete=True)
    records_services.add_document(case, by=alice, kind="original_report", uploaded=pdf_upload())
    _checked(case, _zipped_series(tmp_path))
    unfinished = records_services.start_upload(case, by=alice)
    row = records_services.start_file(unfinished, relative_path="CD/IM1", size=10)
    multipart.backend().write_part(
        row.multipart_id, 1, io.BytesIO(b"01234"), length=5, max_bytes=5, file_size=10
    )

    records_services.delete_draft(case, by=alice)

    assert not Case.objects.filter(pk=case.pk).exists()
    assert orphans(settings) == []
    assert not any(Path(settings.MULTIPART_DIR).iterdir())
    assert not [p for p in Path(default_storage.location).rglob("*") if p.is_file()]


@pytest.mark.django_db(transaction=True)
def test_an_upload_deleted_while_it_is_being_checked_leaves_nothing_on_disk(
    alice, tmp_path, settings, monkeypatch
):
    case = make_case(alice, complete=True)
    upload = upload_folder(case, _zipped_series(tmp_path))
    real_validate_files = dicom.validate_files

    def patient_deletes_it_meanwhile(*args, **kwargs):
        report = real_validate_files(*args, **kwargs)  # the images are read, then...
        records_services.delete_upload(Upload.objects.get(pk=upload.pk), by=alice)
        return report

    monkeypatch.setattr(dicom, "validate_files", patient_deletes_it_meanwhile)

    flow.check_upload(upload.pk)

    assert not Upload.objects.filter(pk=upload.pk).exists()
    assert orphans(settings) == []
    assert not [p for p in Path(default_storage.location).rglob("*") if p.is_file()]


def test_previews_a_killed_check_stored_go_with_the_upload(alice, tmp_path, settings):
    case = make_case(alice, complete=True)
    upload = upload_folder(case, _zipped_series(tmp_path))
    # A worker killed after it stored a preview, before it recorded the series naming it.
    default_storage.save(f"{upload.prefix}previews/0123abcd.png", ContentFile(b"\x89PNG"))

    records_services.delete_upload(upload, by=alice)

    assert orphans(settings) == []
    assert not [p for p in Path(default_storage.location).rglob("*") if p.is_file()]
