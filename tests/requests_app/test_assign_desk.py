"""A coordinator assigns a reader with the facts in front of them, from the case's own page."""

from django.urls import reverse

from requests_app.models import Case
from reviewers import services
from reviewers.models import ReviewerChoice
from tests.conftest import make_case
from tests.requests_app.test_triage import CHANGELIST, queued
from tests.reviewers.conftest import make_reviewer, queued_case


def _assign_form(client, case, **extra):
    data = {"action": "assign_action", "_selected_action": [case.pk], "from_case": "1", **extra}
    return client.post(reverse(CHANGELIST), data).content.decode()


def test_the_form_lists_the_eligible_with_their_facts_and_the_patients_pick_first(
    client, sam, alice
):
    fast = make_reviewer("f@example.com", "Dr. Ann Fast", turnaround_days=1)
    picked = make_reviewer("p@example.com", "Dr. Paul Picked", turnaround_days=4, capacity=5)
    make_reviewer("o@example.com", "Dr. Olga Ohio", states=("OH",))
    case = queued(alice, queue_id="neuroradiology")
    ReviewerChoice.objects.create(case=case, reviewer=picked)
    client.force_login(sam)

    page = _assign_form(client, case)
    assert page.index("Dr. Paul Picked (the patient&#x27;s choice)") < page.index("Dr. Ann Fast")
    assert "reads neuroradiology; licensed in IL" in page
    assert "0 of 5 cases open" in page
    assert "Dr. Olga Ohio" not in page

    shown = _assign_form(client, case, show_all="1")
    assert "Dr. Olga Ohio: not eligible, they are not licensed in IL." in shown
    assert fast.display_name in shown


def test_an_ineligible_choice_is_refused_with_its_reason(client, sam, alice):
    ohio = make_reviewer("o@example.com", "Dr. Olga Ohio", states=("OH",))
    case = queued(alice, queue_id="neuroradiology")
    client.force_login(sam)
    page = _assign_form(client, case, apply="1", reviewer=ohio.pk)
    assert "Dr. Olga Ohio cannot take this case: they are not licensed in IL." in page
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED


def test_assigning_from_the_case_page_returns_to_it(client, sam, alice):
    reader = make_reviewer("r@example.com", "Dr. Rae Reader")
    case = queued(alice, queue_id="neuroradiology")
    client.force_login(sam)
    data = {
        "action": "assign_action",
        "_selected_action": [case.pk],
        "from_case": "1",
        "apply": "1",
        "reviewer": reader.pk,
    }
    response = client.post(reverse(CHANGELIST), data)
    assert response["Location"] == reverse("admin:requests_app_case_change", args=[case.pk])
    case.refresh_from_db()
    assert case.assigned_reviewer == reader


def test_a_reviewer_is_told_why_in_the_second_person(client, alice):
    ohio = make_reviewer("o@example.com", "Dr. Olga Ohio", states=("OH",))
    case = queued_case(alice)
    client.force_login(ohio.user)
    page = client.get(reverse("reviewers:case-detail", args=[case.code])).content.decode()
    assert "You can't take this case: you are not licensed in IL." in page
    try:
        services.claim_case(case, reviewer=ohio, by=ohio.user)
    except services.ReviewError as exc:
        assert str(exc) == "You cannot take this case: you are not licensed in IL."
    else:
        raise AssertionError("an unlicensed reviewer claimed the case")


def test_moving_a_case_without_a_specialist_does_not_speak_of_releasing_it(client, sam, alice):
    case = make_case(alice, complete=True, status=Case.Status.REPORT_READY)
    client.force_login(sam)
    data = {"action": "reroute_action", "_selected_action": [case.pk], "apply": "1"}
    page = client.post(reverse(CHANGELIST), {**data, "queue": "breast"}, follow=True)
    text = page.content.decode()
    assert "only a case waiting for a specialist can move to another queue" in text
    assert "release it from its specialist" not in text


def test_the_assignment_page_offers_the_eligible_with_their_facts(client, sam, alice):
    make_reviewer("r@example.com", "Dr. Rae Reader", capacity=3)
    ohio = make_reviewer("o@example.com", "Dr. Olga Ohio", states=("OH",))
    case = queued(alice, queue_id="neuroradiology")
    client.force_login(sam)
    url = reverse("admin:reviewers_caseassignment_change", args=[case.pk])
    page = client.get(url).content.decode()
    assert "Dr. Rae Reader: reads neuroradiology; licensed in IL" in page
    assert "0 of 3 cases open" in page and "Dr. Olga Ohio" not in page
    assert "not licensed in IL" in client.get(url, {"show_all": "1"}).content.decode()

    refused = client.post(url, {"reviewer": ohio.pk}).content.decode()
    assert "Dr. Olga Ohio cannot take this case: they are not licensed in IL." in refused
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED
