"""Which specialists may read a case, and in what order to offer them.

`check` and `rank` are pure functions over plain facts (`Need`, `ReviewerFacts`), so the wizard's
list, a claim from the queue and a coordinator's assignment all apply the same rules, and tests can
state a rule without building a database. `match_case` loads the facts in a few queries.

The rules, each for a reason that is not ours to relax:
- subspecialty: the case's queue (or what the patient asked for) must be one the reviewer reads;
- licensure: a physician may only give an opinion to a patient in a state where they are licensed;
- MQSA: only MQSA-qualified physicians may interpret mammograms (21 CFR 900.12);
- conflict of interest: nobody from the facility that did the original read grades it;
- network: when the patient's plan names its in-network reviewers, only those are offered;
- capacity: a reviewer at their limit of open cases is not offered more;
- earlier readers never give the tie-breaking third opinion (it must be independent of both).
Ranked by usual turnaround, then by how loaded the reviewer is.
"""

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace

from django.db.models import Count, Q

from requests_app.models import Case, ReviewType, VisitMode

from .models import Opinion, ReviewerProfile

# Words that say nothing about which hospital is meant ("The Springfield General Hospital, Inc.").
_NOISE = {"the", "of", "inc", "llc", "at", "and"}
_WORD = re.compile(r"[a-z0-9]+")


def facility_words(name: str) -> tuple[str, ...]:
    return tuple(w for w in _WORD.findall(name.casefold()) if w not in _NOISE)


def same_facility(a: str, b: str) -> bool:
    """True when one name is the other, or contains it word for word ("Springfield General")."""
    left, right = facility_words(a), facility_words(b)
    if not left or not right:
        return False
    short, long = sorted((left, right), key=len)
    if len(short) < 2 and short != long:
        return False  # one common word ("Mercy") is not enough to call it the same place
    return any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))


@dataclass(frozen=True)
class Need:
    """What a case asks of its reader."""

    subspecialty: str
    review_type: str = ReviewType.RADIOLOGY
    clinical_specialty: str = ""
    patient_state: str = ""
    mammography: bool = False
    facility: str = ""
    visit_mode: str = VisitMode.REMOTE
    in_network: frozenset[int] | None = None
    earlier_readers: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ReviewerFacts:
    """What matching needs to know about one reviewer."""

    id: int
    name: str
    kind: str = ReviewerProfile.Kind.RADIOLOGIST
    clinical_specialty: str = ""
    subspecialties: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    mqsa_qualified: bool = False
    institution: str = ""
    remote: bool = True
    in_person: bool = False
    turnaround_days: int = 5
    capacity: int = 10
    open_cases: int = 0
    board_certification: str = ""
    fellowship: str = ""

    @classmethod
    def from_profile(cls, profile: ReviewerProfile, *, open_cases: int) -> "ReviewerFacts":
        return cls(
            id=profile.pk,
            name=profile.display_name,
            kind=profile.kind,
            clinical_specialty=profile.clinical_specialty,
            subspecialties=frozenset(s.slug for s in profile.subspecialties.all()),
            states=frozenset(lic.state for lic in profile.licenses.all()),
            mqsa_qualified=profile.mqsa_qualified,
            institution=profile.institution,
            remote=profile.remote,
            in_person=profile.in_person,
            turnaround_days=profile.turnaround_days,
            capacity=profile.capacity,
            open_cases=open_cases,
            board_certification=profile.board_certification,
            fellowship=profile.fellowship,
        )


@dataclass(frozen=True)
class Candidate:
    reviewer: ReviewerFacts
    why: tuple[str, ...]


@dataclass(frozen=True)
class Matches:
    candidates: list[Candidate]
    excluded: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def first_available(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def _kind_fits(need: Need, r: ReviewerFacts) -> bool:
    if need.review_type == ReviewType.RADIOLOGY:
        return r.kind == ReviewerProfile.Kind.RADIOLOGIST
    if need.review_type == ReviewType.CLINICAL:
        wanted = need.clinical_specialty
        specific = wanted and wanted != "other"
        return r.kind == ReviewerProfile.Kind.CLINICAL and (
            not specific or r.clinical_specialty == wanted
        )
    return True  # both: a radiologist re-reads and a clinical specialist advises


def check(need: Need, r: ReviewerFacts) -> list[str]:
    """Why this reviewer may not take the case; empty when they may."""
    problems = []
    if need.subspecialty not in r.subspecialties:
        problems.append(f"does not read the {need.subspecialty.replace('_', ' ')} queue")
    if not _kind_fits(need, r):
        problems.append("is not the kind of specialist asked for")
    if need.patient_state and need.patient_state not in r.states:
        problems.append(f"is not licensed in {need.patient_state}")
    if need.mammography and r.kind == ReviewerProfile.Kind.RADIOLOGIST and not r.mqsa_qualified:
        problems.append("is not MQSA-qualified to read mammograms")
    if need.facility and r.institution and same_facility(need.facility, r.institution):
        problems.append("works where the original read was done (conflict of interest)")
    if need.in_network is not None and r.id not in need.in_network:
        problems.append("is not in network for the patient's plan")
    if need.visit_mode == VisitMode.IN_PERSON and not r.in_person:
        problems.append("does not see patients in person")
    if need.visit_mode == VisitMode.REMOTE and not r.remote:
        problems.append("does not give opinions remotely")
    if r.open_cases >= r.capacity:
        problems.append("has no capacity for another case now")
    if r.id in need.earlier_readers:
        problems.append("already read this case")
    return problems


def why_fits(need: Need, r: ReviewerFacts) -> tuple[str, ...]:
    """Plain-language reasons a patient can check, in the order they matter."""
    why = []
    if r.fellowship:
        why.append(f"Fellowship-trained: {r.fellowship}.")
    if r.board_certification:
        why.append(f"Board-certified: {r.board_certification}.")
    if need.mammography and r.mqsa_qualified:
        why.append("MQSA-qualified to read mammograms.")
    if need.patient_state:
        why.append(f"Licensed in {need.patient_state}, where you live.")
    if need.facility:
        why.append("Independent of the facility that did the first reading.")
    if need.in_network is not None:
        why.append("In network for your plan.")
    days = "day" if r.turnaround_days == 1 else "days"
    why.append(f"Usually reports within {r.turnaround_days} {days}.")
    return tuple(why)


def rank(need: Need, reviewers: Iterable[ReviewerFacts]) -> Matches:
    """Those who may take the case, fastest and least loaded first; the rest with reasons."""
    fit, excluded = [], {}
    for r in reviewers:
        problems = check(need, r)
        if problems:
            excluded[r.id] = tuple(problems)
        else:
            fit.append(r)
    fit.sort(key=lambda r: (r.turnaround_days, r.open_cases / max(r.capacity, 1), r.name, r.id))
    return Matches([Candidate(r, why_fits(need, r)) for r in fit], excluded)


# --- From the database ---------------------------------------------------------------------------


def earlier_readers_by_case(cases: Iterable[Case]) -> dict[int, frozenset[int]]:
    """Reviewers who are no longer blind to each case (they filed a read and saw the reports),
    for a whole list of cases in one query."""
    readers: dict[int, set[int]] = {case.pk: set() for case in cases}
    rows = (
        Opinion.objects.filter(case__in=list(readers), blind_read_at__isnull=False)
        .exclude(released_at__isnull=True, signed_at__isnull=True)
        .values_list("case_id", "reviewer_id")
    )
    for case_id, reviewer_id in rows:
        readers[case_id].add(reviewer_id)
    return {case_id: frozenset(ids) for case_id, ids in readers.items()}


def earlier_readers(case: Case) -> frozenset[int]:
    """Reviewers who are no longer blind to this case: they filed a read and saw the reports."""
    return earlier_readers_by_case([case])[case.pk]


def need_for_case(
    case: Case,
    *,
    subspecialty: str | None = None,
    in_network_ids: Collection[int] | None = None,
    exclude_ids: Collection[int] = (),
    earlier: frozenset[int] | None = None,
) -> Need:
    """The need of a case: its queue once routed, else what the patient asked for.

    `in_network_ids`: the reviewers in network for the patient's plan when the insurance app knows
    them (None = unknown, nobody is excluded for it). `earlier`: the case's earlier readers when
    the caller loaded them for many cases at once (None = look them up).
    """
    if earlier is None:
        earlier = earlier_readers(case) if case.pk else frozenset()
    slug = subspecialty or case.queue_id or case.requested_subspecialty_id or "general"
    return Need(
        subspecialty=slug,
        review_type=case.review_type or ReviewType.RADIOLOGY,
        clinical_specialty=case.clinical_specialty,
        patient_state=case.patient_state,
        mammography=case.is_mammogram,
        facility=case.facility_name,
        visit_mode=case.visit_mode or VisitMode.REMOTE,
        in_network=frozenset(in_network_ids) if in_network_ids is not None else None,
        earlier_readers=earlier | frozenset(exclude_ids) if case.pk else frozenset(),
    )


def load_reviewers(queryset=None) -> list[ReviewerFacts]:
    """Active reviewers as facts, with their open cases counted, in three queries."""
    queryset = queryset if queryset is not None else ReviewerProfile.objects.all()
    profiles = (
        queryset.filter(is_active=True)
        .annotate(
            open_count=Count(
                "assigned_cases", filter=Q(assigned_cases__status=Case.Status.IN_REVIEW)
            )
        )
        .prefetch_related("subspecialties", "licenses")
    )
    return [ReviewerFacts.from_profile(p, open_cases=p.open_count) for p in profiles]


def match_case(
    case: Case,
    *,
    subspecialty: str | None = None,
    in_network_ids: Collection[int] | None = None,
) -> Matches:
    """Everyone who may read this case, ranked; the wizard and the portal both ask this."""
    need = need_for_case(case, subspecialty=subspecialty, in_network_ids=in_network_ids)
    return rank(need, load_reviewers())


def reasons_not_eligible(
    case: Case, reviewer: ReviewerProfile, *, in_network_ids: Collection[int] | None = None
) -> list[str]:
    """Why this reviewer may not take this case now (empty = they may).

    `in_network_ids`: the plan's in-network reviewers when the patient was promised one
    (`insurance.services.network_for_matching`); None = the network does not limit who reads.
    """
    (facts,) = load_reviewers(ReviewerProfile.objects.filter(pk=reviewer.pk)) or [None]
    if facts is None:
        return ["is not an active reviewer"]
    if case.assigned_reviewer_id == reviewer.pk and case.status == Case.Status.IN_REVIEW:
        # Their own open case is already counted in their load.
        facts = replace(facts, open_cases=facts.open_cases - 1)
    return check(need_for_case(case, in_network_ids=in_network_ids), facts)
