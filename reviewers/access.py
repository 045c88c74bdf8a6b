"""What a reviewer may open: `Case.objects.for_reviewer`, narrowed by this app's own rules.

Anything outside the scope is a 404, never a hint that it exists.
"""

from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from requests_app.models import Case

from .models import Opinion, ReviewerChoice, ReviewerProfile

KIND_ROLE = {
    ReviewerProfile.Kind.RADIOLOGIST: Opinion.Role.READING,
    ReviewerProfile.Kind.CLINICAL: Opinion.Role.CONSULTATION,
}


def reviewer_cases(user) -> QuerySet[Case]:
    """Cases assigned to the reviewer, or waiting in their queues for them.

    Two kinds of waiting case are kept from a reviewer although their queue holds them: a case
    they already read (a third opinion must come from someone who saw neither earlier report),
    and a part of the second opinion the patient asked another named specialist of their kind
    for (in a "both" case the named radiologist holds the reading, the named clinician the
    consultation).
    """
    cases = Case.objects.for_reviewer(user)
    profile = getattr(user, "reviewer_profile", None) if user.is_authenticated else None
    if profile is None:
        return cases
    read_before = Opinion.objects.filter(
        case=OuterRef("pk"), reviewer=profile, blind_read_at__isnull=False
    )
    my_part = KIND_ROLE[profile.kind]
    my_part_signed = Opinion.objects.filter(
        case=OuterRef("pk"), signed_at__isnull=False, role=my_part
    )
    for_another = ReviewerChoice.objects.filter(
        case=OuterRef("pk"), reviewer__kind=profile.kind
    ).exclude(reviewer=profile)
    waiting = Q(status=Case.Status.QUEUED, assigned_reviewer__isnull=True)
    return cases.exclude(
        waiting & (Exists(read_before) | (Exists(for_another) & ~Exists(my_part_signed)))
    )


def waiting_in_order(cases: QuerySet[Case], profile: ReviewerProfile) -> QuerySet[Case]:
    """The waiting cases of a reviewer's queue in the order they are shown: those whose patient
    asked for this reviewer first (`asked_for_me`), then the urgent, then the longest waiting.

    The others of the kind never see a case reserved for someone else (`reviewer_cases`), so the
    named reviewer finding it on top is what makes the patient's pick happen.
    """
    asked = ReviewerChoice.objects.filter(case=OuterRef("pk"), reviewer=profile)
    return (
        cases.filter(status=Case.Status.QUEUED, assigned_reviewer__isnull=True)
        .annotate(asked_for_me=Exists(asked))
        .order_by("-asked_for_me", "-priority", "status_changed_at", "pk")
    )


def get_case_for_reviewer(user, code: UUID) -> Case:
    return get_object_or_404(
        reviewer_cases(user).select_related("queue", "requested_subspecialty", "assigned_reviewer"),
        code=code,
    )
