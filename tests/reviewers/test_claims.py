"""Queues, claims and releases: who may see a case, and that one case has one reader at a time."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import Case, Notification, Priority
from requests_app.tasks import check_sla_task
from reviewers import services
from reviewers.models import Opinion, ReviewerChoice
from reviewers.views import PORTAL_PAGE_SIZE
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer, queued_case


def _urls(case) -> list[tuple[str, str]]:
    code = case.code
    return [
        ("get", reverse("reviewers:case-detail", args=[code])),
        ("post", reverse("reviewers:case-claim", args=[code])),
        ("post", reverse("reviewers:case-release", args=[code])),
        ("get", reverse("reviewers:study-zip", args=[code])),
        ("post", reverse("reviewers:read-file", args=[code])),
        ("post", reverse("reviewers:read-grade", args=[code])),
        ("post", reverse("reviewers:read-sign", args=[code])),
    ]


def test_rita_claims_a_queued_case_and_it_leaves_the_queue(client, alice, rita_profile):
    case = queued_case(alice)
    client.force_login(rita_profile.user)
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert case.short_code in portal and "Claim case" in portal

    response = client.post(reverse("reviewers:case-claim", args=[case.code]))
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.assigned_reviewer) == (Case.Status.IN_REVIEW, rita_profile)
    opinion = Opinion.objects.get(case=case)
    assert (opinion.reviewer, opinion.round, opinion.is_blind) == (rita_profile, 1, True)
    assert case.events.filter(from_status="queued", to_status="in_review").exists()


@pytest.mark.parametrize("persona", ["alice", "bob", "sam"])
def test_anyone_but_a_reviewer_gets_404_on_every_reviewer_case_page(
    client, alice, persona, request
):
    case = queued_case(alice)
    client.force_login(request.getfixturevalue(persona))
    for method, url in _urls(case):
        assert getattr(client, method)(url).status_code == 404, (method, url)
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED


def test_rita_gets_404_for_cases_outside_her_queues_and_assignments(client, alice, rita_profile):
    other = make_reviewer("b@example.com", "Dr. Bea Breast", subspecialties=("breast",))
    outside = [
        make_case(alice, complete=True),  # a draft
        queued_case(alice, queue_id="breast"),  # another queue
        make_case(  # someone else's case in her own subspecialty
            alice,
            complete=True,
            status=Case.Status.IN_REVIEW,
            queue_id="neuroradiology",
            assigned_reviewer=other,
        ),
        make_case(alice, complete=True, status=Case.Status.SUBMITTED, queue_id="neuroradiology"),
    ]
    client.force_login(rita_profile.user)
    for case in outside:
        for method, url in _urls(case):
            assert getattr(client, method)(url).status_code == 404, (case.status, method, url)
    assert Opinion.objects.count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_claims_leave_exactly_one_winner(alice):
    """Two reviewers press Claim at the same instant, each on their own database connection."""
    case = queued_case(alice)
    readers = [make_reviewer(f"r{i}@example.com", f"Dr. Reader Number{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def claim(profile) -> None:
        try:
            mine = Case.objects.get(pk=case.pk)
            barrier.wait()
            services.claim_case(mine, reviewer=profile, by=profile.user)
            outcomes.append("won")
        except services.ReviewError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(p,)) for p in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["Another specialist has just taken this case.", "won"]
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert Opinion.objects.filter(case=case).count() == 1
    assert Opinion.objects.get(case=case).reviewer == case.assigned_reviewer
    assert case.events.filter(to_status="in_review").count() == 1


def test_the_database_holds_one_open_reading_per_case_even_if_status_were_wrong(
    alice, rita_profile, nils
):
    case = queued_case(alice)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    # A bug elsewhere puts the case back in the queue while Rita still holds it.
    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, assigned_reviewer=None)
    stale = Case.objects.get(pk=case.pk)
    with pytest.raises(services.ReviewError):
        services.claim_case(stale, reviewer=nils.reviewer_profile, by=nils)
    assert Opinion.objects.filter(case=case).count() == 1


def test_release_puts_the_case_back_for_someone_else(client, alice, rita_profile, nils):
    case = queued_case(alice)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    client.post(reverse("reviewers:case-release", args=[case.code]))
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED and case.assigned_reviewer is None
    assert Opinion.objects.get(case=case).released_at is not None

    services.claim_case(case, reviewer=nils.reviewer_profile, by=nils)
    assert case.assigned_reviewer == nils.reviewer_profile


def test_no_release_after_the_blind_read_was_filed(alice, rita_profile):
    case = queued_case(alice)
    opinion = services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    services.file_blind_read(opinion, by=rita_profile.user, findings="F", impression="I")
    with pytest.raises(services.ReviewError, match="coordinator"):
        services.release_case(case, reviewer=rita_profile, by=rita_profile.user)


def test_an_unlicensed_reviewer_sees_why_and_cannot_claim(client, alice, rita_profile):
    case = queued_case(alice, opinion_state="CA")
    client.force_login(rita_profile.user)
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert "You can't take this case: you are not licensed in CA." in portal
    client.post(reverse("reviewers:case-claim", args=[case.code]))
    case.refresh_from_db()
    assert case.status == Case.Status.QUEUED


def test_a_case_the_patient_reserved_for_a_named_reviewer_is_theirs(client, alice, rita_profile):
    chosen = make_reviewer("c@example.com", "Dr. Chosen One")
    case = queued_case(alice)
    ReviewerChoice.objects.create(case=case, reviewer=chosen)
    client.force_login(rita_profile.user)
    assert case.short_code not in client.get(reverse("reviewers:portal")).content.decode()
    assert client.get(reverse("reviewers:case-detail", args=[case.code])).status_code == 404
    with pytest.raises(services.ReviewError, match="another specialist"):
        services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    services.claim_case(case, reviewer=chosen, by=chosen.user)
    assert case.assigned_reviewer == chosen


def test_coordinator_assigns_and_reassigns_in_the_admin(client, alice, sam, rita_profile, nils):
    case = queued_case(alice)
    client.force_login(sam)
    url = reverse("admin:reviewers_caseassignment_change", args=[case.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"reviewer": rita_profile.pk})
    case.refresh_from_db()
    assert (case.status, case.assigned_reviewer) == (Case.Status.IN_REVIEW, rita_profile)

    client.post(url, {"reviewer": nils.reviewer_profile.pk})
    case.refresh_from_db()
    assert case.assigned_reviewer == nils.reviewer_profile
    opinions = Opinion.objects.filter(case=case).order_by("claimed_at")
    assert [o.released_at is not None for o in opinions] == [True, False]
    assert case.events.filter(message__contains="coordinator").count() == 2


def test_coordinator_cannot_assign_an_unlicensed_reviewer(alice, sam):
    case = queued_case(alice)
    away = make_reviewer("ny@example.com", "Dr. Ned York", states=("NY",))
    with pytest.raises(services.ReviewError, match="licensed in IL"):
        services.assign_case(case, reviewer=away, by=sam)


def test_a_double_click_on_claim_keeps_one_reading(client, alice, rita_profile):
    case = queued_case(alice)
    client.force_login(rita_profile.user)
    url = reverse("reviewers:case-claim", args=[case.code])
    client.post(url)
    response = client.post(url, follow=True)
    assert "This case is already yours." in response.content.decode()
    assert Opinion.objects.filter(case=case).count() == 1
    assert case.events.filter(to_status="in_review").count() == 1


def test_the_named_reviewer_finds_the_case_asked_for_them_on_top_of_their_queue(
    client, alice, rita_profile, nils
):
    since = timezone.now() - timedelta(days=3)
    older = queued_case(alice)
    urgent = queued_case(alice, priority=Priority.URGENT)
    asked = queued_case(alice)
    for hours, case in enumerate([older, urgent, asked]):
        Case.objects.filter(pk=case.pk).update(status_changed_at=since + timedelta(hours=hours))
    ReviewerChoice.objects.create(case=asked, reviewer=rita_profile)

    client.force_login(rita_profile.user)
    portal = client.get(reverse("reviewers:portal")).content.decode()
    order = sorted([older, urgent, asked], key=lambda case: portal.index(case.short_code))
    assert order == [asked, urgent, older]
    assert "the patient asked for you" in portal

    client.force_login(nils)
    theirs = client.get(reverse("reviewers:portal")).content.decode()
    assert asked.short_code not in theirs
    assert theirs.index(urgent.short_code) < theirs.index(older.short_code)
    assert "the patient asked for you" not in theirs


def test_when_the_named_reviewer_hands_the_case_back_the_patient_is_told_and_anyone_may_take_it(
    client, alice, rita_profile, nils
):
    case = queued_case(alice)
    ReviewerChoice.objects.create(case=case, reviewer=rita_profile)
    services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    client.force_login(rita_profile.user)
    client.post(reverse("reviewers:case-release", args=[case.code]))

    told = Notification.objects.get(user=alice, title="Another specialist will read your case")
    assert told.body.startswith("Dr. Rita Novak cannot read your case after all.")
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "waiting for the next available specialist of the right kind" in page
    assert "waiting for Dr. Rita Novak" not in page

    client.force_login(nils)
    assert case.short_code in client.get(reverse("reviewers:portal")).content.decode()
    services.claim_case(case, reviewer=nils.reviewer_profile, by=nils)
    assert case.assigned_reviewer == nils.reviewer_profile


def test_a_case_waiting_too_long_for_the_named_reviewer_goes_to_anyone_eligible(
    client, alice, rita_profile, nils
):
    overdue, recent = queued_case(alice), queued_case(alice)
    for case in (overdue, recent):
        ReviewerChoice.objects.create(case=case, reviewer=rita_profile)
    waited = timezone.now() - services.CHOICE_HOLD - timedelta(hours=1)
    Case.objects.filter(pk=overdue.pk).update(status_changed_at=waited)

    check_sla_task()

    told = Notification.objects.get(user=alice, title="Another specialist will read your case")
    assert told.case == overdue and told.body.startswith("Dr. Rita Novak has not been able")
    client.force_login(nils)
    portal = client.get(reverse("reviewers:portal")).content.decode()
    assert overdue.short_code in portal and recent.short_code not in portal
    services.claim_case(overdue, reviewer=nils.reviewer_profile, by=nils)
    with pytest.raises(services.ReviewError, match="another specialist"):
        services.claim_case(recent, reviewer=nils.reviewer_profile, by=nils)


def test_a_long_queue_is_paged_oldest_first_in_the_same_queries(client, alice, rita_profile):
    client.force_login(rita_profile.user)
    url = reverse("reviewers:portal")
    since = timezone.now() - timedelta(days=30)

    def wait(n: int) -> list[Case]:
        """n more cases, each queued an hour after the one before."""
        nonlocal since
        cases = [queued_case(alice) for _ in range(n)]
        for case in cases:
            since += timedelta(hours=1)
            Case.objects.filter(pk=case.pk).update(status_changed_at=since)
        return cases

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    oldest = wait(2)
    few = queries()
    newest = wait(PORTAL_PAGE_SIZE)
    assert queries() == few

    first = client.get(url).content.decode()
    assert f"({PORTAL_PAGE_SIZE + 2} waiting)" in first
    assert all(case.short_code in first for case in oldest)
    assert newest[-1].short_code not in first
    second = client.get(url, {"page-neuroradiology": 2}).content.decode()
    assert newest[-1].short_code in second and oldest[0].short_code not in second
