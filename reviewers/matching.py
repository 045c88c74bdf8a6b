"""Which specialists may read a case, and in what order to offer them.

`check` and `rank` are pure functions over plain facts (`Need`, `ReviewerFacts`), so the wizard's
list, a claim from the queue and a coordinator's assignment all apply the same rules, and tests can
state a rule without building a database. `match_case` loads the facts in a few queries.

The rules, each for a reason that is not ours to relax:
- subspecialty: the case's queue (or what the patient asked for) must be one the reviewer reads;
- kind: an image reading is a radiologist's, a consultation a clinical specialist's (a "both"
  case needs one of each, reading first: `reviewers.readers`);
- licensure: a physician may only give an opinion to a patient who is, at that time, in a state
  where they hold a current licence (FSMB telemedicine policy): the state the patient will be in,
  which for an in-person visit is the visit's state, not where they live;
- MQSA: whoever interprets a mammogram, whatever their profile says they are, must be MQSA
  qualified with current continuing experience and education, and trained in tomosynthesis to
  read a tomosynthesis study (21 CFR 900.12(a)(1));
- conflict of interest: nobody who works at the place that did the scan, by any workplace they
  declared (their institution and every affiliation), reads it;
- network: when the patient's plan names its in-network reviewers, only those are offered;
- capacity: a reviewer at their limit of open cases is not offered more;
- earlier readers never give the tie-breaking third opinion (it must be independent of both).
Ranked by usual turnaround, then by how loaded the reviewer is.
"""

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from django.db.models import Count, Q
from django.utils import timezone

from records import studyzip
from requests_app.models import Case, VisitMode

from . import readers
from .credentials import licence_current
from .models import Opinion, ReviewerChoice, ReviewerProfile

# Digital breast tomosynthesis objects (DICOM PS3.4): the tomosynthesis volume and its projections.
TOMOSYNTHESIS_SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis Image Storage
    "1.2.840.10008.5.1.4.1.1.13.1.4",  # Breast Projection X-Ray Image Storage, For Presentation
    "1.2.840.10008.5.1.4.1.1.13.1.5",  # Breast Projection X-Ray Image Storage, For Processing
)

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
    role: str = Opinion.Role.READING
    clinical_specialty: str = ""
    opinion_state: str = ""  # where the patient will be when the opinion is given
    mammography: bool = False
    tomosynthesis: bool = False
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
    states: frozenset[str] = frozenset()  # current licences only
    states_on_record: frozenset[str] = frozenset()  # current or not
    mqsa_on_record: bool = False
    mqsa_current: bool = False
    dbt_trained: bool = False
    workplaces: tuple[str, ...] = ()
    remote: bool = True
    in_person: bool = False
    turnaround_days: int = 5
    capacity: int = 10
    open_cases: int = 0
    board_certification: str = ""
    fellowship: str = ""

    @classmethod
    def from_profile(
        cls, profile: ReviewerProfile, *, open_cases: int, on: date
    ) -> "ReviewerFacts":
        """The reviewer as matching sees them on day `on`: lapsed credentials do not count."""
        licences = list(profile.licenses.all())
        return cls(
            id=profile.pk,
            name=profile.display_name,
            kind=profile.kind,
            clinical_specialty=profile.clinical_specialty,
            subspecialties=frozenset(s.slug for s in profile.subspecialties.all()),
            states=frozenset(
                lic.state for lic in licences if licence_current(lic.expires_on, on=on)
            ),
            states_on_record=frozenset(lic.state for lic in licences),
            mqsa_on_record=profile.mqsa_initial_qualification_on is not None,
            mqsa_current=profile.mqsa_current_on(on),
            dbt_trained=profile.mqsa_dbt_trained_on is not None
            and profile.mqsa_dbt_trained_on <= on,
            workplaces=profile.workplaces,
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
    if need.role == Opinion.Role.READING:
        return r.kind == ReviewerProfile.Kind.RADIOLOGIST
    wanted = need.clinical_specialty
    specific = wanted and wanted != "other"
    return r.kind == ReviewerProfile.Kind.CLINICAL and (
        not specific or r.clinical_specialty == wanted
    )


# Each reason reads after "the reviewer" ("is not licensed in OH"); said to the reviewer, or of
# them as "they", the verb that opens it agrees with the plural pronoun.
_PLURAL_VERB = {"is": "are", "has": "have", "does": "do", "works": "work"}


def in_plural(reason: str) -> str:
    """A reason as said after "you" or "they": "is not licensed in OH" -> "are not licensed..."."""
    verb, _, rest = reason.partition(" ")
    return f"{_PLURAL_VERB[verb]} {rest}" if verb in _PLURAL_VERB else reason


def reasons_said(pronoun: str, reasons: Iterable[str]) -> str:
    """The reasons as one clause about "you" or "they": "you are not licensed in OH; you have no
    capacity for another case now"."""
    return "; ".join(f"{pronoun} {in_plural(reason)}" for reason in reasons)


def credential_problems(need: Need, r: ReviewerFacts) -> list[str]:
    """The licensing and MQSA rules alone: checked again when the reviewer signs, because a
    credential can lapse between taking a case and signing its report."""
    problems = []
    reads_images = need.role == Opinion.Role.READING
    if need.opinion_state and need.opinion_state not in r.states:
        problems.append(
            f"has no current licence in {need.opinion_state} on record (lapsed or undated)"
            if need.opinion_state in r.states_on_record
            else f"is not licensed in {need.opinion_state}"
        )
    # Keyed on the part, not the profile: whoever interprets a mammogram needs MQSA.
    if need.mammography and reads_images and not r.mqsa_current:
        problems.append(
            "has MQSA qualification that lapsed or lacks its continuing dates"
            if r.mqsa_on_record
            else "is not MQSA-qualified to read mammograms"
        )
    if need.tomosynthesis and reads_images and not r.dbt_trained:
        problems.append("has no tomosynthesis (DBT) training on record")
    return problems


def check(need: Need, r: ReviewerFacts) -> list[str]:
    """Why this reviewer may not take the case; empty when they may."""
    problems = []
    reads_images = need.role == Opinion.Role.READING
    if need.subspecialty not in r.subspecialties:
        problems.append(f"does not read the {need.subspecialty.replace('_', ' ')} queue")
    if not _kind_fits(need, r):
        problems.append(
            "is not a radiologist, and this part is an image reading"
            if reads_images
            else "is not the kind of clinical specialist asked for"
        )
    problems += credential_problems(need, r)
    if need.facility and any(same_facility(need.facility, place) for place in r.workplaces):
        problems.append("works where the scan was done (conflict of interest)")
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
    if need.mammography and need.role == Opinion.Role.READING and r.mqsa_current:
        why.append("MQSA-qualified to read mammograms.")
    if need.opinion_state:
        why.append(
            f"Licensed in {need.opinion_state}, where you will be when you receive the opinion."
        )
    if need.facility:
        why.append("None of the places they told us they work is the place that did your scan.")
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
    opinion_state: str = "",
    signed: set[str] | None = None,
    tomosynthesis: bool | None = None,
) -> Need:
    """The need of a case: its queue once routed, else what the patient asked for.

    `in_network_ids`: the reviewers in network for the patient's plan when the insurance app knows
    them (None = unknown, nobody is excluded for it). `earlier`, `signed` (its signed parts) and
    `tomosynthesis`: what the caller loaded for many cases at once (None = look it up).
    """
    if earlier is None:
        earlier = earlier_readers(case) if case.pk else frozenset()
    slug = subspecialty or case.queue_id or case.requested_subspecialty_id or "general"
    return Need(
        subspecialty=slug,
        role=readers.next_role(case, signed=signed),
        clinical_specialty=case.clinical_specialty,
        # Until the patient says where they will be (the specialist step), where they live is
        # the best guess for the list they are shown.
        opinion_state=opinion_state or case.opinion_state or case.patient_state,
        mammography=case.is_mammogram,
        tomosynthesis=(
            tomosynthesis
            if tomosynthesis is not None
            else bool(case.pk) and has_tomosynthesis(case)
        ),
        facility=case.facility_name,
        visit_mode=case.visit_mode or VisitMode.REMOTE,
        in_network=frozenset(in_network_ids) if in_network_ids is not None else None,
        earlier_readers=earlier | frozenset(exclude_ids) if case.pk else frozenset(),
    )


def has_tomosynthesis(case: Case) -> bool:
    return case.pk in tomosynthesis_cases([case])


def tomosynthesis_cases(cases: Iterable[Case]) -> set[int]:
    """Which of these cases hold a tomosynthesis study, in one query."""
    return studyzip.cases_holding([case.pk for case in cases], TOMOSYNTHESIS_SOP_CLASSES)


def load_reviewers(queryset=None, *, on: date | None = None) -> list[ReviewerFacts]:
    """Active reviewers as facts on day `on` (today), with their open cases, in three queries."""
    return facts_of_profiles(loaded_profiles(queryset), on=on)


def loaded_profiles(queryset=None) -> list[ReviewerProfile]:
    """The active reviewers `load_reviewers` reads, with what it reads of them (their
    subspecialties, licences and open cases), in three queries."""
    queryset = queryset if queryset is not None else ReviewerProfile.objects.all()
    return list(
        queryset.filter(is_active=True)
        .annotate(
            open_count=Count(
                "assigned_cases", filter=Q(assigned_cases__status=Case.Status.IN_REVIEW)
            )
        )
        .prefetch_related("subspecialties", "licenses")
    )


def facts_of_profiles(profiles: list[ReviewerProfile], *, on: date | None = None):
    """Profiles from `loaded_profiles` as facts on day `on` (today)."""
    on = on or timezone.localdate()
    return [ReviewerFacts.from_profile(p, open_cases=p.open_count, on=on) for p in profiles]


def match_case(
    case: Case,
    *,
    subspecialty: str | None = None,
    in_network_ids: Collection[int] | None = None,
    opinion_state: str = "",
) -> Matches:
    """Everyone who may read this case, ranked; the wizard and the portal both ask this."""
    need = need_for_case(
        case,
        subspecialty=subspecialty,
        in_network_ids=in_network_ids,
        opinion_state=opinion_state,
    )
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


def credential_problems_for(case: Case, reviewer: ReviewerProfile) -> list[str]:
    """Why this reviewer's credentials do not cover this case today (empty = they do)."""
    (facts,) = load_reviewers(ReviewerProfile.objects.filter(pk=reviewer.pk)) or [None]
    if facts is None:
        return ["is not an active reviewer"]
    role = case.opinions.filter(reviewer=reviewer).values_list("role", flat=True).last()
    need = replace(need_for_case(case), role=role or Opinion.Role.READING)
    return credential_problems(need, facts)


# --- A coordinator's choice of reader ------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One reviewer as a coordinator weighs them for a case: the facts the rules looked at."""

    reviewer: ReviewerFacts
    facts: str
    reasons: tuple[str, ...] = ()  # why they may not take it; empty when they may
    patient_pick: bool = False

    @property
    def eligible(self) -> bool:
        return not self.reasons


def facts_of(need: Need, r: ReviewerFacts) -> str:
    """What the rules checked, as the coordinator reads it, and the reviewer's load now."""
    facts = (
        [f"reads {need.subspecialty.replace('_', ' ')}"]
        if need.subspecialty in r.subspecialties
        else []
    )
    if need.opinion_state and need.opinion_state in r.states:
        facts.append(f"licensed in {need.opinion_state}")
    if need.mammography and need.role == Opinion.Role.READING:
        facts.append("MQSA current" if r.mqsa_current else "no current MQSA")
    if need.facility and not any(same_facility(need.facility, p) for p in r.workplaces):
        facts.append("no conflict with the scanning facility")
    facts.append(f"{r.open_cases} of {r.capacity} cases open")
    return "; ".join(facts)


def options_for(case: Case, *, in_network_ids: Collection[int] | None = None) -> list[Option]:
    """Every active reviewer for this case: those who may take it first (the patient's pick at the
    top, then fastest and least loaded), then the others with their reasons."""
    need = need_for_case(case, in_network_ids=in_network_ids)
    pick = ReviewerChoice.objects.filter(case=case).values_list("reviewer_id", flat=True).first()
    everyone = []
    for r in load_reviewers():
        if r.id == case.assigned_reviewer_id and case.status == Case.Status.IN_REVIEW:
            r = replace(r, open_cases=r.open_cases - 1)  # their own open case is this one
        everyone.append(r)
    matches = rank(need, everyone)
    eligible = [
        Option(c.reviewer, facts_of(need, c.reviewer), patient_pick=c.reviewer.id == pick)
        for c in matches.candidates
    ]
    eligible.sort(key=lambda option: not option.patient_pick)  # stable: the ranking stays
    others = [
        Option(r, facts_of(need, r), matches.excluded[r.id], patient_pick=r.id == pick)
        for r in sorted(everyone, key=lambda r: (r.name, r.id))
        if r.id in matches.excluded
    ]
    return eligible + others
