"""The patient's insurance pages and the coordinators' admin: access, methods, what they show."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from insurance import paperwork, services
from insurance.models import (
    CaseInsurance,
    CaseReferral,
    CoverageCheck,
    GoodFaithEstimate,
    NetworkGapException,
    Payer,
    Plan,
    PriorAuthorization,
    ServicePrice,
)
from requests_app.models import AuditEvent, Case
from reviewers.models import Subspecialty
from tests.conftest import make_case, make_user

from .conftest import insured_case

MA = "Evergreen Medicare Advantage Choice"


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def urls(case: Case) -> list[tuple[str, str]]:
    gap = NetworkGapException.objects.filter(case=case).first()
    pages = [
        ("post", reverse("insurance:coverage-preview", args=[case.code])),
        ("get", reverse("insurance:self-pay", args=[case.code])),
        ("post", reverse("insurance:self-pay", args=[case.code])),
        ("get", reverse("insurance:referral", args=[case.code])),
        ("post", reverse("insurance:network-gap-request", args=[case.code])),
        ("get", reverse("insurance:cost-summary", args=[case.code])),
    ]
    if gap:
        pages.append(("get", reverse("insurance:network-gap-letter", args=[case.code, gap.code])))
    return pages


def test_bob_gets_404_for_every_insurance_page_of_alices_case(client, alice, bob, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical", subspecialty="breast")
    paperwork.request_network_gap_exception(case, by=alice)
    client.force_login(bob)
    for method, url in urls(case):
        assert getattr(client, method)(url).status_code == 404, url
    assert not CaseInsurance.objects.get(case=case).is_self_pay
    # Only the refusals of the records' downloads are on the audit log, as refusals.
    assert set(AuditEvent.objects.values_list("actor", "action")) == {
        (bob.pk, AuditEvent.Action.DENIED)
    }


def test_anonymous_is_sent_to_log_in(client, alice, plans):
    case = insured_case(alice, plans[MA])
    for method, url in urls(case):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_preview_shows_what_the_answers_mean_without_saving_them(client, alice, plans, reviewers):
    case = make_case(alice, complete=True, review_type="clinical")
    client.force_login(alice)
    response = client.post(
        reverse("insurance:coverage-preview", args=[case.code]),
        {"plan_type": "medicare_advantage", "plan": plans[MA].pk, "has_referral": "no"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Covered, prior authorization required" in response.content.decode()
    assert "Not saved yet" in response.content.decode()
    assert CaseInsurance.objects.get(case=case).plan is None
    assert not CoverageCheck.objects.filter(case=case).exists()


def test_insurance_step_saves_the_plan_and_shows_the_result_when_coming_back(
    client, alice, plans, reviewers
):
    case = make_case(alice, complete=True, review_type="clinical")
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "insurance"])
    response = client.post(
        url,
        {
            "plan_type": "medicare",  # the patient's guess; the plan says Medicare Advantage
            "plan": plans[MA].pk,
            "member_id": "EVG-0042",
            "has_referral": "no",
        },
    )
    assert response.status_code == 302
    insurance = CaseInsurance.objects.get(case=case)
    assert (insurance.plan_type, insurance.insurer_name) == (
        "medicare_advantage",
        "Evergreen Health",
    )
    page = client.get(url).content.decode()
    assert "Covered, prior authorization required" in page and "Checked " in page


def test_review_page_shows_the_price_before_submitting(client, alice, plans):
    case = insured_case(alice, None)
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "review"])).content.decode()
    assert "Self-pay: $350.00" in page
    assert page.index("Self-pay: $350.00") < page.index("Submit my request")


def test_self_pay_shows_the_price_and_is_chosen_only_by_post(client, alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    client.force_login(alice)
    url = reverse("insurance:self-pay", args=[case.code])
    page = client.get(url).content.decode()
    assert "$450.00" in page and "Pay $450.00 myself" in page
    assert not CaseInsurance.objects.get(case=case).is_self_pay
    response = client.post(url)
    assert response["Location"] == reverse("requests:case-detail", args=[case.code])
    assert CaseInsurance.objects.get(case=case).self_pay_price == 450


def test_referral_details_form(client, alice, plans):
    case = insured_case(alice, plans["BlueHarbor HMO Select"])
    client.force_login(alice)
    url = reverse("insurance:referral", args=[case.code])
    response = client.post(url, {"physician_name": "Dr. Ann Lee", "physician_npi": "12"})
    assert set(response.context["form"].errors) == {"physician_phone", "physician_npi"}
    response = client.post(
        url, {"physician_name": "Dr. Ann Lee", "physician_phone": "555-0100", "physician_npi": ""}
    )
    assert response.status_code == 302
    assert case.referral.physician_name == "Dr. Ann Lee" and case.referral.status == "received"


def test_cost_summary_pdf_is_a_record_read_and_audited(client, alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="both")
    client.force_login(alice)
    response = client.get(reverse("insurance:cost-summary", args=[case.code]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for words in ("Cost estimate", "Alice Moreau", "$390.00", "CPT 99204", "not a bill"):
        assert words in text, words
    # A Medicare Advantage plan is billed the re-read as Medicare takes it, never CPT 76140.
    assert "modifier 77" in text and "76140" not in text
    # An estimate is not what an HSA or FSA takes as proof: the itemized statement is.
    assert "HSA" not in text and "receipt of payment" not in text
    audit = AuditEvent.objects.get()
    assert (audit.actor, audit.action, audit.target_type, audit.case_code) == (
        alice,
        "download",
        "cost_summary",
        case.code,
    )


def test_network_gap_request_then_letter_pdf(client, alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical", subspecialty="breast")
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "review"])).content.decode()
    assert "network gap exception" in page and "Ask my insurer for a network gap exception" in page
    response = client.post(reverse("insurance:network-gap-request", args=[case.code]))
    assert response["Location"] == reverse("requests:case-step", args=[case.code, "review"])
    exception = NetworkGapException.objects.get(case=case)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Network gap exception:</strong> letter ready to send" in page
    letter = client.get(reverse("insurance:network-gap-letter", args=[case.code, exception.code]))
    assert "Request for a network gap exception" in pdf_text(letter.content)
    assert AuditEvent.objects.get().target_type == "network_gap_letter"


def test_case_page_shows_what_is_pending_with_the_insurer(client, alice, plans, reviewers):
    case = insured_case(
        alice,
        plans[MA],
        review_type="clinical",
        queue_id="neuroradiology",
        status=Case.Status.AWAITING_INSURANCE,
    )
    services.open_paperwork(case)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Waiting for your insurer." in page
    assert "Prior authorization from your insurer: not approved yet." in page
    assert "Prior authorization:</strong> needed: not yet requested" in page


def test_case_page_checks_coverage_once_and_writes_nothing_when_nothing_changed(
    client, alice, plans, reviewers
):
    case = insured_case(
        alice,
        plans[MA],
        review_type="clinical",
        queue_id="neuroradiology",
        status=Case.Status.AWAITING_INSURANCE,
    )
    services.open_paperwork(case)
    checks = CoverageCheck.objects.filter(case=case).count()
    client.force_login(alice)
    url = reverse("requests:case-detail", args=[case.code])
    with CaptureQueriesContext(connection) as captured:
        page = client.get(url).content.decode()
    assert "Prior authorization from your insurer: not approved yet." in page
    reads = [q for q in captured if 'FROM "insurance_coveragecheck"' in q["sql"]]
    assert len(reads) == 1  # the status box and its blockers share one check
    client.get(url)
    assert CoverageCheck.objects.filter(case=case).count() == checks


# --- Admin -------------------------------------------------------------------------------------


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="insurance", codename__in=codenames)
    )


@pytest.fixture
def waiting(alice, plans, reviewers) -> PriorAuthorization:
    case = insured_case(
        alice,
        plans[MA],
        review_type="clinical",
        queue_id="neuroradiology",
        status=Case.Status.AWAITING_INSURANCE,
    )
    services.open_paperwork(case)
    return PriorAuthorization.objects.get(case=case)


def test_staff_without_the_permission_cannot_record_a_decision(client, waiting):
    clerk = make_user("clerk@example.com", is_staff=True)
    client.force_login(clerk)
    url = reverse("admin:insurance_priorauthorization_change", args=[waiting.pk])
    assert client.get(url).status_code == 403
    grant(clerk, "view_priorauthorization")
    assert client.get(url).status_code == 200
    response = client.post(url, {"reference_number": "X", "_approved": "1"})
    assert response.status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == PriorAuthorization.Status.NEEDED


def test_coordinator_records_an_approval_and_the_case_moves_on(client, sam, waiting):
    grant(sam, "view_priorauthorization", "change_priorauthorization")
    client.force_login(sam)
    url = reverse("admin:insurance_priorauthorization_change", args=[waiting.pk])
    page = client.get(url).content.decode()
    assert 'name="_approved"' in page and 'name="_requested"' in page
    response = client.post(
        url, {"reference_number": "EVG-PA-1187", "note": "", "_approved": "Record approval"}
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.status, waiting.decided_by) == ("approved", sam)
    case = Case.objects.get(pk=waiting.case_id)
    assert case.status == Case.Status.QUEUED
    assert case.events.get(to_status=Case.Status.QUEUED).actor == sam


def test_changelist_action_refuses_what_is_not_allowed_and_says_so(client, sam, waiting):
    grant(sam, "view_priorauthorization", "change_priorauthorization")
    client.force_login(sam)
    url = reverse("admin:insurance_priorauthorization_changelist")
    response = client.post(
        url, {"action": "record_approved", "_selected_action": [waiting.pk]}, follow=True
    )
    assert "reference number for the approval first." in response.content.decode()
    client.post(url, {"action": "mark_requested", "_selected_action": [waiting.pk]})
    waiting.refresh_from_db()
    assert waiting.status == PriorAuthorization.Status.REQUESTED


def test_every_insurance_model_is_in_the_admin_and_lists_its_rows(admin_client, plans, waiting):
    case = Case.objects.get(pk=waiting.case_id)
    CaseReferral.objects.create(case=case, physician_name="Dr. Lee")
    NetworkGapException.objects.create(
        case=case, subspecialty=Subspecialty.objects.get(slug="breast"), letter_text="Dear insurer."
    )
    services.refresh_coverage(case)
    GoodFaithEstimate.objects.create(
        case=case, patient_name="Alice Moreau", items=[], total=0, dispute_threshold=400
    )
    for model in (
        Payer,
        Plan,
        ServicePrice,
        CaseInsurance,
        CoverageCheck,
        PriorAuthorization,
        CaseReferral,
        NetworkGapException,
        GoodFaithEstimate,
    ):
        page = admin_client.get(reverse(f"admin:insurance_{model._meta.model_name}_changelist"))
        listed = sorted(row.pk for row in page.context["cl"].result_list)
        assert listed, model.__name__
        assert listed == sorted(model.objects.values_list("pk", flat=True)), model.__name__
