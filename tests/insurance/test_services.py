"""Coverage checks on real cases, the paperwork, and the way out of awaiting_insurance."""

import pytest

from insurance import paperwork, self_payment, services
from insurance.models import (
    CaseInsurance,
    CaseReferral,
    CoverageCheck,
    NetworkGapException,
    PriorAuthorization,
)
from records import services as records_services
from requests_app.models import Case, CaseEvent
from requests_app.services import CaseError
from tests.conftest import make_case, pdf_upload

from .conftest import insured_case, make_reviewer, reads_images

MA = "Evergreen Medicare Advantage Choice"
PPO = "BlueHarbor PPO Gold"
HMO = "BlueHarbor HMO Select"
MEDICAID = "Lakeshore Medicaid Managed Care"
WAITING = {"status": Case.Status.AWAITING_INSURANCE}


def test_saving_the_insurance_step_checks_coverage_with_a_timestamp(alice, plans, reviewers):
    case = make_case(alice, complete=True, review_type="clinical")
    services.save_case_insurance(
        case,
        by=alice,
        data={
            "plan_type": "medicare_advantage",
            "plan": plans[MA],
            "insurer_name": "Evergreen Health",
            "member_id": "EVG-0042",
            "has_referral": "no",
        },
    )
    check = CoverageCheck.objects.get(case=case)
    assert check.checked_at is not None and check.plan == plans[MA] and check.source == "rules"
    assert check.headline == "Covered, prior authorization required"
    assert (check.estimate_low, check.estimate_high) == (40, 40)
    assert check.result["in_network"]["value"] is True
    assert check.result["in_network_reviewers"] == ["Dr. Maya Lindqvist"]


def test_coverage_runs_again_only_when_something_it_depends_on_changed(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    first = services.refresh_coverage(case)
    assert services.refresh_coverage(case) == first
    assert CoverageCheck.objects.filter(case=case).count() == 1

    Case.objects.filter(pk=case.pk).update(requested_subspecialty_id="breast")
    case.refresh_from_db()
    second = services.refresh_coverage(case)
    assert second != first and second.checked_at >= first.checked_at
    assert second.result["network_gap"] is True
    assert (
        "None of the breast imagers who review for us is in"
        in (second.result["in_network"]["reason"])
    )

    plans[MA].in_network_facilities += "\nHarbor Breast Imaging Center"
    plans[MA].save()
    third = services.refresh_coverage(case)
    assert third.result["network_gap"] is False
    assert CoverageCheck.objects.filter(case=case).count() == 3


def test_one_page_asks_the_rules_once_and_the_next_page_sees_a_change(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    with services.coverage_checked_once():
        first = services.refresh_coverage(case)
        Case.objects.filter(pk=case.pk).update(requested_subspecialty_id="breast")
        case.refresh_from_db()
        assert services.refresh_coverage(case) == first  # one answer across the page
    assert CoverageCheck.objects.filter(case=case).count() == 1
    assert services.refresh_coverage(case).result["network_gap"] is True


def test_a_settled_case_shows_the_check_it_went_forward_on(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    first = services.current_coverage(case)
    plans[MA].in_network_facilities = ""
    plans[MA].save()

    for status in services.SETTLED_STATUSES:
        Case.objects.filter(pk=case.pk).update(status=status)
        case.refresh_from_db()
        assert services.current_coverage(case) == first
    assert CoverageCheck.objects.filter(case=case).count() == 1

    Case.objects.filter(pk=case.pk).update(status=Case.Status.AWAITING_INSURANCE)
    case.refresh_from_db()
    assert services.current_coverage(case) != first  # still open: the new rules apply
    assert CoverageCheck.objects.filter(case=case).count() == 2


def test_coverage_follows_the_reviewer_the_patient_picked(alice, plans, reviewers):
    from reviewers.models import ReviewerChoice

    outside = make_reviewer("Dr. Arjun Mehta", "Prairie Neuro Imaging", "neuroradiology")
    case = insured_case(alice, plans[MA], review_type="clinical")
    ReviewerChoice.objects.create(case=case, reviewer=outside)
    result = services.refresh_coverage(case).result
    assert result["in_network"]["value"] is False
    assert result["network_gap"] is False  # an in-network neuroradiologist exists
    assert "In-network neuroradiologists: Dr. Maya Lindqvist" in result["in_network"]["reason"]
    assert services.in_network_reviewer_ids(case) == {reviewers["neuro"].pk}


def test_the_cost_answer_names_only_a_specialist_the_patient_could_pick(alice, plans, reviewers):
    from reviewers.models import ReviewerChoice
    from tests.reviewers.conftest import make_reviewer as licensed_reviewer

    # In the plan's network (its hospital) but not licensed in Illinois: never offered.
    kim = licensed_reviewer(
        "kim@example.com",
        "Dr. Daniel Kim",
        states=("NY",),
        kind="clinical",
        institution="Lakeside University Hospital",
    )
    case = insured_case(alice, plans[MA], review_type="clinical")
    result = services.refresh_coverage(case).result
    assert result["in_network"]["reason"] == (
        "The first available specialist will be an in-network neuroradiologist."
    )
    assert result["in_network_reviewers"] == ["Dr. Maya Lindqvist"]
    assert kim.display_name not in str(result)

    ReviewerChoice.objects.create(case=case, reviewer=reviewers["neuro"])
    result = services.refresh_coverage(case).result
    assert result["in_network"]["reason"].startswith("Dr. Maya Lindqvist is in ")
    assert kim.display_name not in str(result)

    # When nobody offered is in network, the patient hears of a gap, not of Kim.
    ReviewerChoice.objects.filter(case=case).update(reviewer=None)
    reviewers["neuro"].licenses.update(state="NY")
    result = services.refresh_coverage(case).result
    assert result["network_gap"] is True
    assert kim.display_name not in str(result)


def test_covered_case_with_nothing_to_ask_skips_awaiting_insurance(alice, plans, reviewers):
    case = insured_case(alice, plans[PPO])
    assert services.settle_before_routing(case, queue="neuroradiology") is True
    assert not PriorAuthorization.objects.filter(case=case).exists()


def test_self_pay_skips_and_an_unlisted_plan_waits_for_a_coordinator(alice, plans):
    assert services.settle_before_routing(insured_case(alice, None)) is True
    unlisted = make_case(alice, complete=True)  # Medicare typed in, no plan chosen
    assert services.settle_before_routing(unlisted) is False
    assert services.insurance_blockers(unlisted) == [
        "A care coordinator checks your benefits with your insurer."
    ]


def test_prior_authorization_is_opened_when_the_case_will_wait(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    assert services.settle_before_routing(case, queue="neuroradiology") is False
    services.open_paperwork(case)  # again: nothing more is opened
    pa = PriorAuthorization.objects.get(case=case)
    assert pa.status == PriorAuthorization.Status.NEEDED
    assert case.events.filter(message__startswith="Prior authorization needed").count() == 1


def test_referral_is_opened_with_the_letter_the_patient_uploaded(alice, plans, reviewers):
    case = insured_case(alice, plans[HMO], has_referral="yes")
    letter = records_services.add_document(
        case, by=alice, kind="referral_letter", uploaded=pdf_upload("referral.pdf")
    )
    assert services.settle_before_routing(case, queue="neuroradiology") is False
    referral = CaseReferral.objects.get(case=case)
    assert (referral.status, referral.letter) == (CaseReferral.Status.RECEIVED, letter)


def test_network_gap_letter_says_what_we_know_and_carries_the_clinical_reason(
    alice, sam, plans, reviewers
):
    case = insured_case(alice, plans[MA], review_type="clinical", patient_name="Siobhan O'Neil")
    CaseInsurance.objects.filter(case=case).update(member_id="EVG-0042")
    assert services.settle_before_routing(case, queue="breast") is False
    exception = NetworkGapException.objects.get(case=case)
    assert exception.status == NetworkGapException.Status.DRAFT
    assert exception.subspecialty_id == "breast"
    for words in (
        "Re: Request for a network gap exception",
        "Member ID: EVG-0042",
        "Plan: Evergreen Medicare Advantage Choice",
        "SecondOpinion works with 1 breast imager, and according to the network information we "
        "hold for the plan",
        "none of them is in its network. We cannot tell whether an in-network breast imager "
        "outside our roster could give this second opinion",
        "Member: Siobhan O'Neil, born 04/02/1971",
        "They have been told they have a serious condition.",
        "Clinical reason: [to be completed by our care coordinator",
    ):
        assert words in exception.letter_text
    for claim in ("available in", "No breast imager in the plan's network"):
        assert claim not in exception.letter_text
    with pytest.raises(CaseError, match="clinical reason"):
        paperwork.mark_exception_sent(exception, by=sam)
    NetworkGapException.objects.filter(pk=exception.pk).update(
        clinical_reason="BI-RADS 4B calcifications; a breast imager must compare the priors."
    )
    exception.refresh_from_db()
    paperwork.mark_exception_sent(exception, by=sam)
    exception.refresh_from_db()
    assert (
        "Clinical reason: BI-RADS 4B calcifications; a breast imager must compare the priors."
        in exception.letter_text
    )


def test_no_exception_when_an_in_network_specialist_exists(alice, plans, reviewers):
    case = insured_case(alice, plans[MA], review_type="clinical")
    with pytest.raises(CaseError, match="in-network specialist is available"):
        paperwork.request_network_gap_exception(case, by=alice)


def test_approval_queues_the_case_and_the_timeline_names_the_coordinator(
    alice, sam, plans, reviewers
):
    case = insured_case(
        alice, plans[MA], review_type="clinical", queue_id="neuroradiology", **WAITING
    )
    services.open_paperwork(case)
    pa = PriorAuthorization.objects.get(case=case)
    paperwork.record_prior_auth_requested(pa, by=sam, reference_number="EVG-PA-1187")
    assert paperwork.record_prior_auth_decision(pa, by=sam, approved=True) is True

    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
    pa.refresh_from_db()
    assert (pa.status, pa.decided_by, pa.reference_number) == ("approved", sam, "EVG-PA-1187")
    moved = case.events.get(to_status=Case.Status.QUEUED)
    assert (moved.actor, moved.from_status) == (sam, Case.Status.AWAITING_INSURANCE)
    assert moved.message == "Insurance cleared: prior authorization approved."
    decision = case.events.get(message__startswith="Prior authorization approved")
    assert decision.actor == sam
    assert decision.message == (
        "Prior authorization approved by Evergreen Health (reference EVG-PA-1187); "
        "recorded by Sam Okoro."
    )


def test_approval_needs_the_insurers_reference_and_cannot_be_recorded_twice(
    alice, sam, plans, reviewers
):
    case = insured_case(
        alice, plans[MA], review_type="clinical", queue_id="neuroradiology", **WAITING
    )
    services.open_paperwork(case)
    pa = PriorAuthorization.objects.get(case=case)
    with pytest.raises(CaseError, match="reference number"):
        paperwork.record_prior_auth_decision(pa, by=sam, approved=True)
    paperwork.record_prior_auth_decision(pa, by=sam, approved=True, reference_number="R1")
    stale = PriorAuthorization.objects.get(pk=pa.pk)
    stale.status = PriorAuthorization.Status.REQUESTED  # a second coordinator's stale page
    with pytest.raises(CaseError, match="approved"):
        paperwork.record_prior_auth_decision(stale, by=sam, approved=False)
    assert case.events.filter(message__startswith="Prior authorization").count() == 2


def test_denial_keeps_the_case_waiting_until_the_patient_pays(alice, sam, plans, reviewers):
    case = insured_case(
        alice, plans[MA], review_type="clinical", queue_id="neuroradiology", **WAITING
    )
    services.open_paperwork(case)
    pa = PriorAuthorization.objects.get(case=case)
    assert paperwork.record_prior_auth_decision(pa, by=sam, approved=False) is False
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_INSURANCE
    assert services.insurance_blockers(case) == [
        "Prior authorization from your insurer: not approved yet."
    ]

    price = self_payment.choose_self_pay(case, by=alice)
    assert price == 450
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
    insurance = CaseInsurance.objects.get(case=case)
    assert insurance.self_pay_price == 450 and insurance.is_self_pay
    assert case.events.get(to_status=Case.Status.QUEUED).actor == alice
    assert services.refresh_coverage(case).headline == "Self-pay: $450.00"


def test_case_waits_for_every_item(alice, sam, plans, reviewers):
    case = insured_case(
        alice, plans[MEDICAID], review_type="clinical", queue_id="neuroradiology", **WAITING
    )
    services.open_paperwork(case)
    pa = PriorAuthorization.objects.get(case=case)
    referral = CaseReferral.objects.get(case=case)
    paperwork.record_prior_auth_decision(pa, by=sam, approved=True, reference_number="LK-9")
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_INSURANCE
    with pytest.raises(CaseError, match="referral letter or enter the referring doctor"):
        paperwork.accept_referral(referral, by=sam)

    paperwork.submit_referral_details(
        case, by=alice, physician_name="Dr. Ann Lee", physician_phone="555-0100"
    )
    referral.refresh_from_db()
    assert paperwork.accept_referral(referral, by=sam) is True
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED


def test_granted_exception_clears_the_gap(alice, sam, plans, reviewers):
    case = insured_case(
        alice,
        plans[MA],
        review_type="clinical",
        exam_type="mammogram",
        queue_id="breast",
        **WAITING,
    )
    services.open_paperwork(case)
    exception = NetworkGapException.objects.get(case=case)
    with pytest.raises(CaseError):
        paperwork.record_exception_decision(exception, by=sam, granted=True)  # not sent yet
    exception.clinical_reason = "Suspicious calcifications need a breast imager."
    paperwork.mark_exception_sent(exception, by=sam, reference_number="EVG-NGE-5")
    paperwork.record_exception_decision(exception, by=sam, granted=True)
    result = services.refresh_coverage(case).result
    assert result["in_network"]["value"] is True and not result["exception_required"]
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_INSURANCE  # prior authorization still needed
    pa = PriorAuthorization.objects.get(case=case)
    paperwork.record_prior_auth_decision(pa, by=sam, approved=True, reference_number="PA-2")
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED


def test_coordinator_clears_by_hand_with_a_reason(alice, sam, plans):
    case = make_case(alice, complete=True, queue_id="neuroradiology", **WAITING)
    with pytest.raises(CaseError, match="Say why"):
        services.clear_insurance(case, by=sam, note=" ")
    services.clear_insurance(case, by=sam, note="Medicare confirmed by phone, ref 77")
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
    event = CaseEvent.objects.get(case=case, to_status=Case.Status.QUEUED)
    assert event.actor == sam and "Sam Okoro: Medicare confirmed by phone" in event.message


def test_a_new_plan_while_waiting_opens_what_it_needs(alice, sam, plans, reviewers):
    case = make_case(
        alice, complete=True, review_type="clinical", queue_id="neuroradiology", **WAITING
    )
    insurance = CaseInsurance.objects.get(case=case)
    insurance.plan = plans[MA]
    services.update_insurance_by_coordinator(insurance, by=sam, fields=["plan"])
    assert PriorAuthorization.objects.get(case=case).status == "needed"
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_INSURANCE


def test_self_pay_is_refused_once_a_specialist_has_the_case(alice, plans):
    case = insured_case(alice, plans[PPO], status=Case.Status.IN_REVIEW)
    with pytest.raises(CaseError):
        self_payment.choose_self_pay(case, by=alice)


def test_prices_fall_back_to_the_defaults_when_a_row_is_deleted(alice, plans):
    from insurance.models import ServicePrice

    ServicePrice.objects.filter(review_type="radiology").update(self_pay_price=375)
    case = insured_case(alice, None)
    assert self_payment.self_pay_price(case) == 375
    ServicePrice.objects.all().delete()
    assert self_payment.self_pay_price(case) == 350
    assert services.refresh_coverage(case).headline == "Self-pay: $350.00"


def test_hmo_out_of_network_choice_holds_submission_until_in_network_or_self_pay(
    alice, plans, reviewers
):
    from requests_app import wizard
    from reviewers.models import ReviewerChoice

    case = insured_case(alice, plans[HMO], has_referral="yes", review_type="radiology")
    outside = make_reviewer(
        "Dr. Arjun Mehta", "Westbrook Neuro Imaging", "neuroradiology", kind="radiologist"
    )
    reads_images(reviewers["neuro"])
    choice = ReviewerChoice.objects.create(case=case, reviewer=outside)
    check = services.refresh_coverage(case)
    assert (check.outcome, check.headline) == ("not_covered", "Not covered with this specialist")
    expected = (
        "your plan pays nothing for the specialist you chose, who is outside its network: "
        "choose an in-network specialist, or choose to pay yourself"
    )
    assert expected in wizard.missing_for_submission(case)

    ReviewerChoice.objects.filter(pk=choice.pk).update(reviewer=reviewers["neuro"])
    assert expected not in wizard.missing_for_submission(case)
    ReviewerChoice.objects.filter(pk=choice.pk).update(reviewer=outside)
    self_payment.choose_self_pay(case, by=alice)
    assert expected not in wizard.missing_for_submission(case)


def test_a_waiting_hmo_case_with_an_out_of_network_reader_says_what_to_do(alice, plans, reviewers):
    from reviewers.models import ReviewerChoice

    case = insured_case(alice, plans[HMO], has_referral="yes", **WAITING)
    outside = make_reviewer(
        "Dr. Arjun Mehta", "Westbrook Neuro Imaging", "neuroradiology", kind="radiologist"
    )
    reads_images(reviewers["neuro"])
    ReviewerChoice.objects.create(case=case, reviewer=outside)
    assert services.insurance_blockers(case) == [
        "Your plan pays only for specialists in its network: choose to pay yourself, or ask "
        "your care coordinator for an in-network specialist."
    ]
