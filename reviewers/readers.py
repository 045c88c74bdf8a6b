"""Who a case needs: an image reading by a radiologist, a consultation by a clinical specialist,
or both, each by its own physician, assigned and signed before the report is ready.

Only a radiologist interprets images and files image grades (BI-RADS, density, RADPEER); a
clinical specialist (surgeon, oncologist...) writes a consultation on the records. A "both" case
is two services: the reading comes first, so the consultation can build on a confirmed reading.
"""

from collections.abc import Iterable

from requests_app.models import Case, ReviewType

from .models import Opinion, ReviewerProfile

ROLES_FOR = {
    ReviewType.RADIOLOGY: (Opinion.Role.READING,),
    ReviewType.CLINICAL: (Opinion.Role.CONSULTATION,),
    ReviewType.BOTH: (Opinion.Role.READING, Opinion.Role.CONSULTATION),
}
KIND_FOR = {
    Opinion.Role.READING: ReviewerProfile.Kind.RADIOLOGIST,
    Opinion.Role.CONSULTATION: ReviewerProfile.Kind.CLINICAL,
}


def roles_for(review_type: str) -> tuple[str, ...]:
    return ROLES_FOR.get(review_type or ReviewType.RADIOLOGY, ROLES_FOR[ReviewType.RADIOLOGY])


def signed_roles(case: Case) -> set[str]:
    """The roles of the second opinion (round 1) that are signed."""
    return set(
        case.opinions.filter(signed_at__isnull=False, round=1).values_list("role", flat=True)
    )


def missing_roles(case: Case) -> list[str]:
    """What the second opinion still lacks, in the order it is done."""
    done = signed_roles(case) if case.pk else set()
    return [role for role in roles_for(case.review_type) if role not in done]


def next_role(case: Case, *, signed: set[str] | None = None) -> str:
    """The role the next reader of this case fills. Once every part of the second opinion is
    signed, only a tie-breaking third opinion can be pending, and that is a reading.

    `signed`: the case's signed round-1 roles when the caller loaded them for many cases at once.
    """
    done = signed if signed is not None else (signed_roles(case) if case.pk else set())
    missing = [role for role in roles_for(case.review_type) if role not in done]
    return missing[0] if missing else Opinion.Role.READING


def signed_roles_by_case(cases: Iterable[Case]) -> dict[int, set[str]]:
    """`signed_roles` for a whole list of cases in one query."""
    found: dict[int, set[str]] = {case.pk: set() for case in cases}
    rows = Opinion.objects.filter(
        case__in=list(found), signed_at__isnull=False, round=1
    ).values_list("case_id", "role")
    for case_id, role in rows:
        found[case_id].add(role)
    return found


def next_round(case: Case, role: str) -> int:
    if role == Opinion.Role.CONSULTATION:
        return 1
    return 1 + case.opinions.filter(signed_at__isnull=False, role=Opinion.Role.READING).count()


def latest_reading(opinions: Iterable[Opinion]) -> Opinion | None:
    """The reading the result's headline follows: the last signed one, third opinion first."""
    readings = [o for o in opinions if not o.is_consultation]
    return max(readings, key=lambda o: (o.round, o.signed_at), default=None)


def third_opinion_pending(case: Case, latest: Opinion | None) -> bool:
    """The patient asked for a third opinion and it is not signed yet: the second opinion is
    complete, and the case is back with the specialists."""
    return (
        latest is not None
        and latest.round == 1
        and case.status in (Case.Status.QUEUED, Case.Status.IN_REVIEW)
        and not missing_roles(case)
    )
