"""What patients, reviewers and coordinators are told, checked where they are told it: the
patient's page, the wizard, the portal's rules and labels, the admin.

Each test speaks through pages, services and choices that exist whatever the rules inside are,
so it fails on any code that tells people the wrong thing.
"""

import pytest
from django.urls import reverse

from requests_app import services as case_services
from requests_app.models import BiRads, Case, Priority
from reviewers import services
from reviewers.matching import reasons_not_eligible
from reviewers.models import Radpeer
from reviewers.routing import WHY
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer, queued_case


def _breast_mri_read_as_4a_after_a_biopsy(patient) -> Case:
    """A breast MRI reported 4B, biopsied, read 4A (RADPEER 2a) with the original left blank."""
    case = queued_case(
        patient,
        exam_type="mri",
        body_region="breast",
        birads="4B",
        had_biopsy="yes",
        queue_id="breast",
    )
    reader = make_reviewer(
        "mri@example.com", "Dr. Mira Reyes", subspecialties=("breast",), mqsa=True
    )
    user = reader.user
    opinion = services.claim_case(case, reviewer=reader, by=user)
    services.file_blind_read(opinion, by=user, findings="F.", impression="I.", birads="4A")
    services.grade_concordance(
        opinion,
        by=user,
        radpeer="2a",
        comment="I rate the enhancement as low rather than moderate suspicion.",
        patient_summary="A little less worrying than the first report.",
    )
    services.sign_report(opinion, by=user, signed_name="Dr. Mira Reyes")
    return case


def test_a_changed_subcategory_after_a_biopsy_is_never_told_as_agreement(client, alice):
    case = _breast_mri_read_as_4a_after_a_biopsy(alice)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Two experts agree" not in page and "proceed with confidence" not in page
    assert "may matter for your care" in page
    assert "do not cancel or change it before you talk to your doctor" in page
    assert "Talk to your doctor before changing any plan." in page


def test_the_patient_never_sees_a_radpeer_grade(client, alice):
    case = _breast_mri_read_as_4a_after_a_biopsy(alice)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "RADPEER" not in page and "Discrepancy in interpretation" not in page
    assert "I rate the enhancement as low rather than moderate suspicion." in page


def test_radpeer_labels_carry_the_acrs_wording():
    labels = dict(Radpeer.choices)
    assert labels["1"] == "1: Concur with interpretation"
    assert "not ordinarily expected to be made (understandable miss)" in labels["2a"]
    assert "not ordinarily expected to be made (understandable miss)" in labels["2b"]
    assert "should be made most of the time; unlikely to be clinically significant" in labels["3a"]
    assert "should be made most of the time; likely to be clinically significant" in labels["3b"]


def test_an_oncologist_in_the_breast_queue_cannot_read_a_both_mammogram(alice):
    case = queued_case(
        alice,
        exam_type="mammogram",
        body_region="breast",
        birads="4B",
        had_biopsy="no",
        queue_id="breast",
        review_type="both",
        clinical_specialty="oncologist",
    )
    kim = make_reviewer(
        "kim@example.com",
        "Dr. Daniel Kim",
        subspecialties=("breast",),
        kind="clinical",
        clinical_specialty="oncologist",
    )
    problems = reasons_not_eligible(case, kim)
    assert any("not a radiologist" in p for p in problems)
    assert any("MQSA" in p for p in problems)


def test_the_wizard_asks_for_the_treating_physician(client, alice):
    case = make_case(alice)
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "patient"])).content.decode()
    assert 'name="physician_name"' in page and 'name="physician_phone"' in page
    assert "we call you and this doctor" in page


def test_a_suspicious_first_report_moves_the_case_up(alice):
    case = make_case(alice, complete=True, exam_type="mammogram", body_region="breast", birads="4C")
    case_services.submit_case(case, by=alice, missing=[])
    case.refresh_from_db()
    assert case.priority == Priority.HIGH


def test_a_mammogram_reading_cannot_be_filed_without_breast_density(alice):
    case = queued_case(
        alice, exam_type="mammogram", body_region="breast", birads="2", queue_id="breast"
    )
    reader = make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True
    )
    opinion = services.claim_case(case, reviewer=reader, by=reader.user)
    with pytest.raises(services.ReviewError):
        services.file_blind_read(opinion, by=reader.user, findings="F", impression="I", birads="2")


def test_bi_rads_0_names_prior_mammograms():
    assert "prior mammograms needed for comparison" in BiRads.B0.label


def test_the_wizard_asks_where_the_patient_will_be_when_the_opinion_is_given(client, alice):
    case = make_case(alice, complete=True)
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "specialist"])
    page = client.get(url).content.decode()
    assert 'name="opinion_state"' in page
    assert "licensed where you live" not in page


def test_coordinators_record_licence_expiry_and_mqsa_dates(client, sam):
    reader = make_reviewer("bea@example.com", "Dr. Bea Imager", subspecialties=("breast",))
    client.force_login(sam)
    url = reverse("admin:reviewers_reviewerprofile_change", args=[reader.pk])
    page = client.get(url).content.decode()
    for field in ("expires_on", "last_verified_on", "number"):
        assert f"licenses-0-{field}" in page, field
    for label in ("MQSA continuing experience due", "MQSA continuing education due", "DBT"):
        assert label in page, label


def test_the_patient_is_not_promised_an_independence_nobody_checks(client, alice):
    case = make_case(alice, complete=True)
    make_reviewer("free@example.com", "Dr. Free Agent")
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "specialist"])
    page = client.get(url).content.decode()
    assert "independent of the place that did your scan" not in page
    assert "none of the places they told us they work" in page


def test_breast_imaging_is_not_presented_as_a_board_certificate():
    assert "board-certified" not in WHY["breast"].lower()
