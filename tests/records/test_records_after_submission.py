"""Nothing is added to or changed on a request once it has left the patient's hands.

A page loads the case, then spends seconds on the patient's file (a large PDF takes ~5 s to
check) while another tab submits the request: the write must see the submission, not the case
as it was loaded.
"""

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from records import services as records_services
from records.models import Upload
from requests_app import services
from requests_app.models import Case
from tests.conftest import make_case, pdf_upload


@pytest.fixture
def loaded_then_submitted(alice):
    """The case as a page loaded it, after which another request submitted it."""
    case = make_case(alice, complete=True)
    loaded = Case.objects.get(pk=case.pk)
    services.submit_case(case, by=alice, missing=[])
    return loaded


def _stored_files() -> list[Path]:
    return [p for p in Path(default_storage.location).rglob("*") if p.is_file()]


def test_a_document_checked_while_the_case_was_submitted_is_not_added(loaded_then_submitted):
    case = loaded_then_submitted
    lines = case.events.count()

    with pytest.raises(services.CaseError, match="has been submitted"):
        records_services.add_document(
            case, by=case.patient, kind="original_report", uploaded=pdf_upload()
        )

    assert not case.documents.exists()
    assert not _stored_files()
    assert case.events.count() == lines


def test_answers_saved_after_submission_do_not_change_the_case(loaded_then_submitted):
    case = loaded_then_submitted

    with pytest.raises(services.CaseError, match="has been submitted"):
        services.update_case(case, by=case.patient, fields={"exam_type": "ct"})

    case.refresh_from_db()
    assert (case.status, case.exam_type) == (Case.Status.SUBMITTED, "mri")


def test_images_finished_after_submission_are_not_sent_for_checking(alice):
    case = make_case(alice, complete=True)
    upload = records_services.start_upload(case, by=alice)
    row = records_services.start_file(upload, relative_path="IM1", size=0)
    records_services.multipart.backend().write_part(
        row.multipart_id, 1, io.BytesIO(b""), length=0, max_bytes=1, file_size=0
    )
    services.submit_case(Case.objects.get(pk=case.pk), by=alice, missing=[])

    with pytest.raises(services.CaseError, match="has been submitted"):
        records_services.finish_upload(upload, by=alice)

    upload.refresh_from_db()
    assert upload.status == Upload.Status.RECEIVING


def test_an_upload_started_on_a_stale_page_is_refused(loaded_then_submitted):
    case = loaded_then_submitted
    with pytest.raises(services.CaseError, match="has been submitted"):
        records_services.start_upload(case, by=case.patient)
    assert not case.uploads.exists()
