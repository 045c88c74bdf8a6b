import pytest
from django.core.files.storage import default_storage

from records import services as records_services
from requests_app import services, wizard
from requests_app.models import Case, CaseEvent
from tests.conftest import make_case, pdf_upload


def test_new_draft_has_a_timeline_entry(alice):
    case = services.create_draft(patient=alice)
    assert case.status == Case.Status.DRAFT
    assert list(case.events.values_list("to_status", "message")) == [
        (Case.Status.DRAFT, "Request started.")
    ]


def test_complete_case_submits_and_records_who_and_when(alice):
    case = make_case(alice, complete=True)
    assert wizard.missing_for_submission(case) == []
    services.submit_case(case, by=alice, missing=wizard.missing_for_submission(case))
    case.refresh_from_db()
    assert case.status == Case.Status.SUBMITTED
    assert case.submitted_at is not None and case.consent_at is not None
    event = case.events.get(to_status=Case.Status.SUBMITTED)
    assert (event.actor, event.from_status) == (alice, Case.Status.DRAFT)


def test_submitting_twice_is_refused_and_leaves_one_event(alice):
    case = make_case(alice, complete=True)
    services.submit_case(case, by=alice, missing=[])
    stale = Case.objects.get(pk=case.pk)
    stale.status = Case.Status.DRAFT  # a second tab still showing the draft
    with pytest.raises(services.CaseError):
        services.submit_case(stale, by=alice, missing=[])
    assert CaseEvent.objects.filter(case=case, to_status=Case.Status.SUBMITTED).count() == 1


def test_incomplete_case_cannot_be_submitted(alice):
    case = make_case(alice, patient_name="Alice Moreau")
    missing = wizard.missing_for_submission(case)
    assert any(item.startswith("Scan:") for item in missing)
    with pytest.raises(services.CaseError, match="Before you submit"):
        services.submit_case(case, by=alice, missing=missing)
    case.refresh_from_db()
    assert case.status == Case.Status.DRAFT


def test_mammogram_needs_birads_and_biopsy_answer(alice):
    case = make_case(alice, complete=True, exam_type="mammogram", body_region="breast")
    missing = wizard.missing_for_submission(case)
    assert missing == ["Records: the BI-RADS category", "Records: biopsy"]


def test_submitted_case_cannot_be_edited(alice):
    case = make_case(alice, complete=True)
    services.submit_case(case, by=alice, missing=[])
    with pytest.raises(services.CaseError):
        services.update_case(case, by=alice, fields={"clinical_question": "changed"})
    case.refresh_from_db()
    assert case.clinical_question != "changed"


def test_signing_again_supersedes_the_previous_authorization(alice):
    case = make_case(alice, complete=True)
    first = services.active_authorization(case)
    second = services.sign_authorization(case, by=alice, signed_name="Alice Moreau")
    first.refresh_from_db()
    assert first.superseded_at is not None and first.revoked_at is None
    assert services.active_authorization(case) == second
    assert "Signed electronically by: Alice Moreau" in second.text
    assert "expires on" in second.text and "revoke" in second.text


def test_resume_points_at_first_unfinished_step(alice):
    case = make_case(alice, **_scan_done())
    assert wizard.first_incomplete(case).slug == "question"


def _scan_done() -> dict:
    return {
        "patient_name": "Alice Moreau",
        "patient_birth_date": "1971-04-02",
        "patient_state": "IL",
        "exam_type": "ct",
        "body_region": "chest",
        "exam_date": "2026-09-01",
        "facility_name": "Lakeview Imaging",
    }


def test_delete_draft_removes_case_and_its_files(alice):
    case = make_case(alice)
    doc = records_services.add_document(
        case, by=alice, kind="original_report", uploaded=pdf_upload()
    )
    assert default_storage.exists(doc.file.name)
    records_services.delete_draft(case, by=alice)
    assert not Case.objects.filter(pk=case.pk).exists()
    assert not default_storage.exists(doc.file.name)
