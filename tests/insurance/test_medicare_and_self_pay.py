"""Medicare's own rules, Medicaid's payment in full, the Good Faith Estimate and the itemized
statement, prior-authorization timeframes and the cost of a third opinion."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from insurance import paperwork, self_payment, services
from insurance.models import CaseInsurance, GoodFaithEstimate, PriorAuthorization
from requests_app.models import AuditEvent, Case, CaseEvent, Notification
from requests_app.services import CaseError
from tests.reviewers.conftest import make_reviewer
from tests.reviewers.test_patient_report import _case_with_report, read_and_sign

from .conftest import insured_case
from .test_views import pdf_text

NEW_YORK = ZoneInfo("America/New_York")
MEDICARE = "Original Medicare (Part B)"
MA = "Evergreen Medicare Advantage Choice"
HMO = "BlueHarbor HMO Select"
MEDICAID = "Lakeshore Medicaid Managed Care"


@pytest.fixture
def rita_profile(rita):
    return make_reviewer(rita.email, "Dr. Rita Novak", user=rita)


def on(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=NEW_YORK)


def text_of(response) -> str:
    return " ".join(pdf_text(response.content).split())


# --- Medicare -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "deductible", "high"),
    [(on(2025, 6, 2), 257, "281.60"), (on(2026, 6, 1), 283, "302.40")],
)
def test_the_part_b_deductible_is_the_one_of_the_year_of_service(
    alice, plans, day, deductible, high
):
    with time_machine.travel(day, tick=False):
        case = insured_case(alice, plans[MEDICARE], review_type="clinical", reason="treatment")
        check = services.refresh_coverage(case)
    # A consultation Medicare allows $380 for: the deductible, if none of it is met, then 20%.
    assert str(check.estimate_high) == high
    assert f"your deductible (${deductible}.00 a year" in check.result["estimate"]["reason"]


def test_original_medicare_self_pay_comes_after_an_advance_beneficiary_notice(client, alice, plans):
    case = insured_case(alice, plans[MEDICARE], review_type="clinical")  # a serious diagnosis
    with pytest.raises(CaseError, match="Advance Beneficiary Notice"):
        self_payment.choose_self_pay(case, by=alice)
    client.force_login(alice)
    url = reverse("insurance:self-pay", args=[case.code])
    page = client.get(url).content.decode()
    assert "Advance Beneficiary Notice" in page and "OPTION 2" in page and "OPTION 3" in page
    response = client.post(url, {"option": "2", "signed_name": "Alice Moreau", "agree": "on"})
    assert response.status_code == 302
    insurance = CaseInsurance.objects.get(case=case)
    assert (insurance.abn_option, insurance.abn_signed_name) == ("2", "Alice Moreau")
    assert "[X] OPTION 2. I want the service listed above, but do not bill Medicare" in (
        " ".join(insurance.abn_text.split())
    )
    assert "F. Estimated cost: $450.00" in insurance.abn_text
    assert insurance.is_self_pay and insurance.self_pay_price == 450
    assert GoodFaithEstimate.objects.filter(case=case).exists()


def test_abn_option_1_has_medicare_billed_and_lets_the_case_go_on(alice, plans):
    case = insured_case(
        alice, plans[MEDICARE], review_type="clinical", status=Case.Status.AWAITING_INSURANCE
    )
    assert services.insurance_blockers(case) == [
        "Medicare may not pay: sign an Advance Beneficiary Notice to pay yourself, or to have "
        "Medicare billed anyway."
    ]
    paperwork.sign_advance_beneficiary_notice(
        case, by=alice, option="1", signed_name="Alice Moreau"
    )
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
    check = services.current_coverage(case)
    assert check.headline == "Medicare may not pay: billed with your Advance Beneficiary Notice"
    assert (check.estimate_low, check.estimate_high) == (0, 450)
    assert not CaseInsurance.objects.get(case=case).is_self_pay


def test_an_abn_is_for_original_medicare_only(alice, plans):
    case = insured_case(alice, plans[MA], review_type="clinical")
    with pytest.raises(CaseError, match="Original Medicare only"):
        paperwork.sign_advance_beneficiary_notice(
            case, by=alice, option="2", signed_name="Alice Moreau"
        )


def test_medicaid_covered_care_is_paid_in_full_and_not_self_paid(client, alice, plans):
    case = insured_case(alice, plans[MEDICAID], review_type="clinical", has_referral="yes")
    check = services.refresh_coverage(case)
    assert check.outcome == "covered"
    assert "We accept your plan's payment as payment in full" in check.result["estimate"]["reason"]
    with pytest.raises(CaseError, match="payment in full"):
        self_payment.choose_self_pay(case, by=alice)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert reverse("insurance:self-pay", args=[case.code]) not in page
    refused = client.get(reverse("insurance:self-pay", args=[case.code])).content.decode()
    assert "we accept its payment as payment in full" in refused


# --- The Good Faith Estimate and the itemized statement ------------------------------------------


def test_choosing_to_pay_issues_a_good_faith_estimate_with_codes_ids_and_the_dispute_notice(
    client, alice, plans
):
    case = insured_case(alice, plans[HMO], review_type="radiology")
    with time_machine.travel(on(2026, 11, 20), tick=False):
        self_payment.choose_self_pay(case, by=alice)
        client.force_login(alice)
        response = client.get(reverse("insurance:good-faith-estimate", args=[case.code]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = text_of(response)
    for words in (
        "Good Faith Estimate",
        "Issued November 20, 2026",
        "Alice Moreau, born April 2, 1971",
        "CPT 76140",
        "NPI 1234567893",
        "TIN 00-0000000",
        "$350.00",
        "if you are billed at least $400 more",
        "within 120 calendar days of the date on the original bill",
        "www.cms.gov/nosurprises",
        "is not a contract",
    ):
        assert words in text, words
    assert GoodFaithEstimate.objects.filter(case=case).count() == 1  # asking again reissues none
    assert CaseEvent.objects.filter(case=case, message="Good Faith Estimate issued: $350.00.")
    assert AuditEvent.objects.filter(target_type="good_faith_estimate", actor=alice).exists()


def test_an_uninsured_patient_gets_the_estimate_when_saying_so(alice, plans):
    case = insured_case(alice, plans[HMO])
    services.save_case_insurance(case, by=alice, data={"plan_type": "none"})
    estimate = GoodFaithEstimate.objects.get(case=case)
    assert estimate.total == 350 and estimate.items[0]["codes"] == ["CPT 76140"]


def test_a_good_faith_estimate_is_for_patients_who_pay(client, alice, plans):
    case = insured_case(alice, plans[HMO])
    client.force_login(alice)
    response = client.get(reverse("insurance:good-faith-estimate", args=[case.code]))
    assert response.status_code == 302
    assert not GoodFaithEstimate.objects.exists()


def test_the_itemized_statement_comes_after_the_service_and_is_not_the_estimate(
    client, alice, rita_profile, plans
):
    case = _case_with_report(alice)
    CaseInsurance.objects.filter(case=case).update(plan_type="none", plan=None, self_pay_price=350)
    client.force_login(alice)
    url = reverse("insurance:itemized-statement", args=[case.code])
    assert client.get(url).status_code == 302  # nothing given yet
    with time_machine.travel(on(2026, 11, 24), tick=False):
        read_and_sign(case, rita_profile, radpeer="1")
        client.force_login(alice)
        page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
        response = client.get(url)
    assert url in page and "Cost summary for your HSA" not in page
    text = text_of(response)
    for words in (
        "Itemized statement of services",
        "Nov 24, 2026",
        "Dr. Rita Novak",
        "CPT 76140",
        "$350.00",
        "it is not an estimate",
    ):
        assert words in text, words


# --- Prior authorization timeframes and the third opinion ----------------------------------------


@pytest.mark.parametrize(
    ("plan_name", "day", "expedited", "due"),
    [
        (MA, on(2025, 6, 2), False, timedelta(days=14)),
        (MA, on(2026, 3, 2), False, timedelta(days=7)),
        (MA, on(2026, 3, 2), True, timedelta(hours=72)),
        (MEDICAID, on(2026, 3, 2), False, timedelta(days=7)),
        (HMO, on(2026, 3, 2), False, timedelta(days=15)),  # an employer plan: ERISA
        (HMO, on(2026, 3, 2), True, timedelta(hours=72)),
    ],
)
def test_prior_authorization_decision_is_due_by_the_plan_types_timeframe(
    alice, sam, plans, plan_name, day, expedited, due
):
    plans[plan_name].prior_auth_required = True
    plans[plan_name].save()
    case = insured_case(
        alice,
        plans[plan_name],
        review_type="clinical",
        has_referral="yes",
        status=Case.Status.AWAITING_INSURANCE,
    )
    with time_machine.travel(day, tick=False):
        services.open_paperwork(case)
        pa = PriorAuthorization.objects.get(case=case)
        PriorAuthorization.objects.filter(pk=pa.pk).update(expedited=expedited)
        pa.refresh_from_db()
        paperwork.record_prior_auth_requested(pa, by=sam, reference_number="PA-1")
    pa.refresh_from_db()
    assert pa.decision_due_at == day + due
    assert CaseEvent.objects.filter(case=case, message__contains="decision due by").exists()


def test_the_case_page_says_when_the_plan_must_decide(client, alice, sam, plans):
    case = insured_case(
        alice, plans[MA], review_type="clinical", status=Case.Status.AWAITING_INSURANCE
    )
    with time_machine.travel(on(2026, 3, 2), tick=False):
        services.open_paperwork(case)
        check = services.current_coverage(case)
        assert (
            "within 7 calendar days of receiving the request"
            in (check.result["prior_authorization"]["reason"])
        )
        paperwork.record_prior_auth_requested(
            PriorAuthorization.objects.get(case=case), by=sam, reference_number="PA-1"
        )
        client.force_login(alice)
        page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert 'data-testid="prior-auth-due">Mar 9, 2026, 10:00 a.m.' in page


def test_a_third_opinion_shows_its_cost_before_it_is_requested(client, alice, rita_profile, plans):
    case = _case_with_report(alice)
    read_and_sign(case, rita_profile, radpeer="3b")
    make_reviewer("nils@example.com", "Dr. Nils Berg")
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    cost_url = reverse("insurance:third-opinion", args=[case.code])
    assert cost_url in page
    shown = client.get(cost_url)
    amount = shown.context["amount"]
    assert amount and f'data-testid="third-opinion-cost">{amount}' in shown.content.decode()
    assert Case.objects.get(pk=case.pk).status == Case.Status.REPORT_READY  # looking asks nothing

    client.post(cost_url, {"estimate_seen": "$1.00"})
    assert Case.objects.get(pk=case.pk).status == Case.Status.REPORT_READY
    client.post(cost_url, {"estimate_seen": amount})
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
    assert CaseEvent.objects.filter(
        case=case, message__startswith="Third opinion asked for", message__contains=amount
    ).exists()
    # The cost the patient just accepted is not news to them.
    assert not Notification.objects.filter(case=case, kind=Notification.Kind.COST).exists()
