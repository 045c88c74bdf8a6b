"""Matching a case to the specialists who may read it: each rule can exclude, ranking orders."""

import pytest
from django.utils import timezone

from requests_app.models import Case
from reviewers.matching import (
    Need,
    ReviewerFacts,
    check,
    earlier_readers_by_case,
    match_case,
    need_for_case,
    rank,
    reasons_not_eligible,
    same_facility,
)
from reviewers.models import Opinion
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer, queued_case

NEURO_IL = Need(subspecialty="neuroradiology", opinion_state="IL")


def facts(id: int = 1, **fields) -> ReviewerFacts:
    fields.setdefault("subspecialties", frozenset({"neuroradiology"}))
    fields.setdefault("states", frozenset({"IL"}))
    return ReviewerFacts(id=id, name=f"Dr. {id}", **fields)


def test_a_qualified_reviewer_passes_every_rule():
    assert check(NEURO_IL, facts()) == []


@pytest.mark.parametrize(
    ("need", "reviewer", "reason"),
    [
        (NEURO_IL, facts(states=frozenset({"NY"})), "is not licensed in IL"),
        (NEURO_IL, facts(subspecialties=frozenset({"breast"})), "neuroradiology queue"),
        (
            Need(subspecialty="breast", opinion_state="IL", mammography=True),
            facts(subspecialties=frozenset({"breast"})),
            "MQSA",
        ),
        (
            Need(subspecialty="neuroradiology", facility="Springfield General Hospital"),
            facts(workplaces=("The Springfield General Hospital, Inc.",)),
            "conflict of interest",
        ),
        (NEURO_IL, facts(open_cases=4, capacity=4), "no capacity"),
        (Need(subspecialty="neuroradiology", in_network=frozenset({2})), facts(), "in network"),
        (Need(subspecialty="neuroradiology", earlier_readers=frozenset({1})), facts(), "already"),
        (Need(subspecialty="neuroradiology", visit_mode="in_person"), facts(), "in person"),
        (Need(subspecialty="neuroradiology"), facts(kind="clinical"), "not a radiologist"),
    ],
    ids=[
        "licensure",
        "subspecialty",
        "mqsa",
        "conflict",
        "capacity",
        "network",
        "earlier-reader",
        "visit",
        "kind",
    ],
)
def test_each_rule_excludes_with_a_reason(need, reviewer, reason):
    problems = check(need, reviewer)
    assert len(problems) == 1 and reason in problems[0]


def test_mqsa_qualified_breast_imager_reads_mammograms_and_says_so():
    need = Need(subspecialty="breast", opinion_state="IL", mammography=True)
    imager = facts(subspecialties=frozenset({"breast"}), mqsa_current=True)
    result = rank(need, [imager])
    assert [c.reviewer.id for c in result.candidates] == [1]
    assert "MQSA-qualified to read mammograms." in result.candidates[0].why


def test_breast_mri_needs_no_mqsa_but_mammography_does():
    breast_mri = Need(subspecialty="breast", opinion_state="IL", mammography=False)
    assert check(breast_mri, facts(subspecialties=frozenset({"breast"}))) == []


def test_in_network_list_unknown_excludes_nobody_known_list_filters():
    assert check(Need(subspecialty="neuroradiology", in_network=None), facts()) == []
    assert check(Need(subspecialty="neuroradiology", in_network=frozenset({1})), facts()) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Springfield General Hospital", "springfield general hospital", True),
        ("Springfield General Hospital", "Springfield General", True),
        ("Springfield General Hospital", "Springfield Children's Hospital", False),
        ("Mercy Hospital", "Mercy", False),
        ("", "Anything", False),
    ],
)
def test_facility_names_compare_word_for_word(a, b, same):
    assert same_facility(a, b) is same


def test_ranking_is_by_turnaround_then_load():
    slow = facts(1, turnaround_days=7)
    busy = facts(2, turnaround_days=3, open_cases=8, capacity=10)
    free = facts(3, turnaround_days=3, open_cases=1, capacity=10)
    full = facts(4, turnaround_days=1, open_cases=5, capacity=5)
    result = rank(NEURO_IL, [slow, busy, free, full])
    assert [c.reviewer.id for c in result.candidates] == [3, 2, 1]
    assert result.first_available.reviewer.id == 3
    assert "no capacity" in result.excluded[4][0]


# --- Against the database: the same rules on real profiles ----------------------------------------


def test_case_matching_checks_licence_conflict_and_capacity(alice):
    case = make_case(alice, complete=True)  # Illinois patient, read at Springfield General
    make_reviewer("a@example.com", "Dr. Ana Fit", turnaround_days=4)
    make_reviewer("b@example.com", "Dr. Ben Away", states=("NY",))
    make_reviewer("c@example.com", "Dr. Cy Local", institution="Springfield General Hospital")
    full = make_reviewer("d@example.com", "Dr. Di Full", capacity=1, turnaround_days=1)
    make_case(
        alice,
        complete=True,
        status=Case.Status.IN_REVIEW,
        queue_id="neuroradiology",
        assigned_reviewer=full,
    )

    result = match_case(case)
    assert [c.reviewer.name for c in result.candidates] == ["Dr. Ana Fit"]
    assert (
        "Licensed in IL, where you will be when you receive the opinion."
        in result.candidates[0].why
    )
    assert len(result.excluded) == 3


def test_mammogram_is_offered_only_to_mqsa_qualified_imagers(alice):
    case = make_case(
        alice, complete=True, exam_type="mammogram", body_region="breast", queue_id="breast"
    )
    make_reviewer("q@example.com", "Dr. Qualified", subspecialties=("breast",), mqsa=True)
    unqualified = make_reviewer("u@example.com", "Dr. Unqualified", subspecialties=("breast",))
    result = match_case(case, subspecialty="breast")
    assert [c.reviewer.name for c in result.candidates] == ["Dr. Qualified"]
    assert reasons_not_eligible(case, unqualified) == ["is not MQSA-qualified to read mammograms"]


def test_in_network_ids_from_the_insurance_app_narrow_the_list(alice):
    case = make_case(alice, complete=True)
    inside = make_reviewer("in@example.com", "Dr. Inside")
    make_reviewer("out@example.com", "Dr. Outside")
    result = match_case(case, in_network_ids={inside.pk})
    assert [c.reviewer.name for c in result.candidates] == ["Dr. Inside"]
    assert "In network for your plan." in result.candidates[0].why


def test_inactive_reviewers_are_never_matched(alice):
    case = make_case(alice, complete=True)
    make_reviewer("gone@example.com", "Dr. Gone", is_active=False)
    assert match_case(case).candidates == []


def test_earlier_readers_of_many_cases_come_in_one_query(
    alice, rita_profile, nils, django_assert_num_queries
):
    released, working, fresh = (queued_case(alice) for _ in range(3))
    now = timezone.now()
    Opinion.objects.create(case=released, reviewer=rita_profile, blind_read_at=now, released_at=now)
    # Nils is still reading: blind to the reports, so not yet an earlier reader.
    Opinion.objects.create(case=working, reviewer=nils.reviewer_profile, blind_read_at=now)
    with django_assert_num_queries(1):
        readers = earlier_readers_by_case([released, working, fresh])
    assert readers == {released.pk: {rita_profile.pk}, working.pk: set(), fresh.pk: set()}
    assert need_for_case(released).earlier_readers == {rita_profile.pk}
