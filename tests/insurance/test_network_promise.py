"""An estimate that promised an in-network specialist is kept: matching, claims and assignment
stay in network, and a change of reader that changes the cost is checked again and told."""

import pytest
from django.urls import reverse

from insurance import assignment, services
from insurance.models import CaseInsurance
from requests_app.models import Case, CaseEvent, Notification
from reviewers import services as reviewer_services
from reviewers.models import ReviewerChoice
from tests.reviewers.conftest import make_reviewer

from .conftest import insured_case

MA = "Evergreen Medicare Advantage Choice"
PPO = "BlueHarbor PPO Gold"


@pytest.fixture
def readers(db):
    """Two Illinois specialists who consult on brain imaging: one at a hospital in the plans'
    networks, one not."""
    return {
        "inside": make_reviewer(
            "maya@example.com",
            "Dr. Maya Lindqvist",
            kind="clinical",
            institution="Lakeside University Hospital",
        ),
        "outside": make_reviewer(
            "arjun@example.com",
            "Dr. Arjun Mehta",
            kind="clinical",
            institution="Westbrook Neuro Imaging",
        ),
    }


def queued(patient, plan, **fields) -> Case:
    """A case whose estimate was shown, then queued as the insurance step lets it go on."""
    case = insured_case(patient, plan, review_type="clinical", **fields)
    services.refresh_coverage(case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    case.refresh_from_db()
    return case


def test_first_available_promised_in_network_keeps_claims_and_assignment_in_network(
    alice, sam, plans, readers
):
    case = queued(alice, plans[MA])
    promised = case.coverage_checks.first().result["in_network"]["reason"]
    assert promised == "The first available specialist will be an in-network neuroradiologist."
    assert services.network_for_matching(case) == frozenset({readers["inside"].pk})

    outside = readers["outside"]
    assert "is not in network for the patient's plan" in assignment.reasons_not_eligible(
        case, outside
    )
    with pytest.raises(reviewer_services.ReviewError, match="not in network"):
        assignment.claim_case(case, reviewer=outside, by=outside.user)
    with pytest.raises(reviewer_services.ReviewError, match="not in network"):
        assignment.assign_case(case, reviewer=outside, by=sam)
    assignment.claim_case(case, reviewer=readers["inside"], by=readers["inside"].user)
    case.refresh_from_db()
    assert case.assigned_reviewer == readers["inside"]


def test_the_portal_and_the_coordinators_assignment_page_apply_the_network(
    client, alice, sam, plans, readers
):
    case = queued(alice, plans[MA])
    outside = readers["outside"]
    client.force_login(outside.user)
    response = client.post(reverse("reviewers:case-claim", args=[case.code]))
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assigned_reviewer is None
    page = client.get(reverse("reviewers:portal")).content.decode()
    assert "you are not in network for the patient&#x27;s plan" in page

    client.force_login(sam)
    changelist = reverse("admin:requests_app_case_changelist")
    client.post(
        changelist,
        {
            "action": "assign_action",
            "_selected_action": [case.pk],
            "apply": "1",
            "reviewer": outside.pk,
        },
    )
    case.refresh_from_db()
    assert case.assigned_reviewer is None


def test_no_network_limit_when_the_estimate_promised_none(alice, sam, plans, readers):
    # The patient chose a named out-of-network specialist on a PPO and was shown that cost.
    case = insured_case(alice, plans[PPO], review_type="clinical")
    ReviewerChoice.objects.create(case=case, reviewer=readers["outside"])
    services.refresh_coverage(case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    case.refresh_from_db()
    assert services.network_for_matching(case) is None
    self_paying = insured_case(alice, None, review_type="clinical")
    services.refresh_coverage(self_paying)
    assert services.network_for_matching(self_paying) is None


def test_a_queued_case_shows_the_current_estimate_not_the_one_it_was_queued_on(
    alice, plans, readers
):
    case = queued(alice, plans[PPO])
    first = services.current_coverage(case)
    plans[PPO].copay = 75
    plans[PPO].save()
    again = services.current_coverage(case)
    assert again != first
    assert (again.estimate_low, again.estimate_high) == (75, 75)


def test_a_new_reader_who_changes_the_cost_reruns_coverage_and_tells_the_patient(
    alice, sam, plans, readers
):
    # A PPO that pays out of network: the coordinator may give the case to either reader.
    case = insured_case(alice, plans[PPO], review_type="clinical")
    ReviewerChoice.objects.create(case=case, reviewer=readers["outside"])
    services.refresh_coverage(case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    case.refresh_from_db()
    before = services.current_coverage(case)
    assert before.result["in_network"]["value"] is False

    assignment.assign_case(case, reviewer=readers["inside"], by=sam)
    after = case.coverage_checks.order_by("-checked_at", "-pk").first()
    assert after.result["in_network"]["value"] is True
    assert (after.estimate_low, after.estimate_high) == (50, 50)
    event = CaseEvent.objects.filter(case=case, message__startswith="Cost estimate changed").get()
    assert "$50.00" in event.message and "was" in event.message
    notice = Notification.objects.get(user=alice, kind=Notification.Kind.COST)
    assert notice.title == "Alice, your cost estimate changed"
    assert "Lindqvist" not in notice.title + notice.body  # the inbox gets no names

    # Another in-network reader costs the same: nothing new to tell.
    colleague = make_reviewer(
        "lena@example.com",
        "Dr. Lena Park",
        kind="clinical",
        institution="Lakeside University Hospital",
    )
    assignment.assign_case(case, reviewer=colleague, by=sam)
    assert Notification.objects.filter(kind=Notification.Kind.COST).count() == 1


def test_a_self_pay_patient_is_not_limited_or_told(alice, sam, plans, readers):
    case = insured_case(alice, None, review_type="clinical")
    services.refresh_coverage(case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    case.refresh_from_db()
    assignment.assign_case(case, reviewer=readers["outside"], by=sam)
    assert not Notification.objects.filter(kind=Notification.Kind.COST).exists()
    assert CaseInsurance.objects.get(case=case).is_self_pay
