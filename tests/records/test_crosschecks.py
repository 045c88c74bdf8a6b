"""Checks across requests: the images' date against the exam date the patient gave, the same
study sent with two of a patient's requests, and a study already reported in another case."""

from django.urls import reverse
from pydicom.uid import generate_uid

from records.models import Study, Upload
from records.validation import case_records
from requests_app import flow
from requests_app import services as case_services
from requests_app.models import Case
from reviewers import services as reviewer_services
from tests.conftest import make_case, upload_folder
from tests.records.dicom_factory import write_series
from tests.reviewers.conftest import make_reviewer, validated_case

ALICE = {"patient_name": "MOREAU^ALICE", "birth_date": "19710402"}


def _checked(case, folder, **series) -> Upload:
    write_series(folder / "DICOM", n=3, **series)
    upload = upload_folder(case, folder)
    flow.check_upload(upload.pk)
    upload.refresh_from_db()
    return upload


def _records_page(client, case) -> str:
    client.force_login(case.patient)
    return client.get(reverse("requests:case-step", args=[case.code, "records"])).content.decode()


def test_images_dated_far_from_the_exam_date_get_a_note_with_both_dates(alice, client, tmp_path):
    # The synthetic images are dated January 15, 2024.
    far = make_case(alice, complete=True, exam_date="2024-02-15")
    _checked(far, tmp_path / "far")
    near = make_case(alice, complete=True, exam_date="2024-02-14")
    _checked(near, tmp_path / "near")

    page = _records_page(client, far)
    assert 'data-testid="exam-date-note"' in page
    assert (
        "these images are dated Jan 15, 2024, but you told us the exam was on Feb 15, 2024" in page
    )
    assert 'data-testid="exam-date-note"' not in _records_page(client, near)


def test_a_study_sent_with_another_request_is_shown_and_flagged(alice, bob, client, tmp_path):
    study = generate_uid()
    first = make_case(
        alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01"
    )
    assert not _checked(first, tmp_path / "a", study_uid=study).problems.exists()
    bobs = make_case(bob, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01")
    assert not _checked(bobs, tmp_path / "b", study_uid=study).problems.exists()  # not bob's

    second = make_case(
        alice, complete=True, patient_name="Jane Doe", patient_birth_date="1970-01-01"
    )
    upload = _checked(second, tmp_path / "c", study_uid=study)

    assert list(upload.problems.values_list("code", "severity")) == [
        ("study_in_other_case", "warning")
    ]
    assert upload.status == Upload.Status.VALID
    assert "You have already sent this study with another of your requests" in _records_page(
        client, second
    )
    assert "study_in_other_case" in case_records(second).flagged  # the coordinator's to check


def test_a_reviewer_is_warned_when_the_study_was_reported_in_another_case(alice, client, tmp_path):
    rita = make_reviewer("rita@example.com", "Dr. Rita Novak")
    reported, _ = validated_case(alice, tmp_path / "one")
    reviewer_services.claim_case(reported, reviewer=rita, by=rita.user)
    opinion = reviewer_services.open_opinion(reported, rita)
    reviewer_services.file_blind_read(opinion, by=rita.user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(opinion, by=rita.user, radpeer="1", patient_summary="Ok.")
    reviewer_services.sign_report(opinion, by=rita.user, signed_name="Dr. Rita Novak")
    again, _ = validated_case(alice, tmp_path / "two")
    client.force_login(rita.user)
    page = reverse("reviewers:case-detail", args=[again.code])
    assert 'data-testid="reported-elsewhere"' not in client.get(page).content.decode()

    Study.objects.filter(case=again).update(
        study_instance_uid=Study.objects.get(case=reported).study_instance_uid
    )

    assert 'data-testid="reported-elsewhere"' in client.get(page).content.decode()


def test_images_dated_far_from_the_exam_date_are_flagged_for_the_coordinator(
    alice, sam, client, tmp_path
):
    # The synthetic images are dated January 15, 2024; the patient said February 15.
    far = make_case(alice, complete=True, exam_date="2024-02-15")
    write_series(tmp_path / "far" / "DICOM", n=3, **ALICE)
    upload = upload_folder(far, tmp_path / "far")
    case_services.submit_case(far, by=alice, missing=[])
    flow.check_upload(upload.pk)  # checks the images, then moves the case on

    far.refresh_from_db()
    assert far.status == Case.Status.AWAITING_INSURANCE
    assert far.needs_coordinator
    expected = "The images are dated Jan 15, 2024; the patient gave Feb 15, 2024 as the date"
    assert expected in far.routing_reasons
    client.force_login(sam)
    triage = client.get(reverse("admin:requests_app_case_change", args=[far.pk]))
    assert expected in triage.content.decode()


def test_images_dated_near_the_exam_date_are_not_flagged(alice, tmp_path):
    near = make_case(alice, complete=True, exam_date="2024-02-14")
    write_series(tmp_path / "near" / "DICOM", n=3, **ALICE)
    upload = upload_folder(near, tmp_path / "near")
    case_services.submit_case(near, by=alice, missing=[])
    flow.check_upload(upload.pk)

    near.refresh_from_db()
    assert near.status == Case.Status.AWAITING_INSURANCE
    assert not near.needs_coordinator, near.routing_reasons
    assert "exam date" not in near.routing_reasons
