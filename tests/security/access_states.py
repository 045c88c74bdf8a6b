"""The access matrix's second dimension: a case in every status and assignment state (how to bring
it there, what holds then), and every case URL of the reviewer portal with the rule "access
follows the work". Read by tests/security/test_access_matrix.py."""

from collections.abc import Callable
from dataclasses import dataclass

from requests_app import triage
from requests_app.models import Case
from reviewers import services as reviewer_services
from tests.security.access_world import World

NEURO_READERS = ("reviewer", "unassigned_reviewer")  # Nils and Rita read the case's queue
STATE_ROLES = ("alice", "bob", "reviewer", "other_reviewer", "unassigned_reviewer")


@dataclass(frozen=True)
class State:
    """Where the case is: its status, who holds it, how far their reading got."""

    status: str
    holder: str | None = None  # the role holding the case, if any
    blind: bool = True  # the holder has not filed their own reading yet
    signed: bool = False  # a report is signed (and the patient asked a question on it)

    def holds(self, role: str) -> bool:
        """Access follows the work: from the claim or assignment until release or close."""
        return self.holder == role and self.status != Case.Status.CLOSED

    def in_scope(self, role: str) -> bool:
        waiting = self.status == Case.Status.QUEUED and self.holder is None
        return self.holds(role) or (waiting and role in NEURO_READERS)


def _status(status: str):
    def move(case: Case, world: World) -> None:
        Case.objects.filter(pk=case.pk).update(status=status)

    return move


def _profile(world: World, role: str):
    return world.users[role].reviewer_profile


def _claimed(case: Case, world: World) -> None:
    nils = _profile(world, "reviewer")
    reviewer_services.claim_case(case, reviewer=nils, by=nils.user)


def _released(case: Case, world: World) -> None:
    nils = _profile(world, "reviewer")
    reviewer_services.claim_case(case, reviewer=nils, by=nils.user)
    reviewer_services.release_case(case, reviewer=nils, by=nils.user)


def _reassigned(case: Case, world: World) -> None:
    rita, nils = _profile(world, "unassigned_reviewer"), _profile(world, "reviewer")
    reviewer_services.claim_case(case, reviewer=rita, by=rita.user)
    reviewer_services.assign_case(case, reviewer=nils, by=world.users["coordinator"])


def _reported(case: Case, world: World) -> None:
    nils = _profile(world, "reviewer")
    opinion = reviewer_services.claim_case(case, reviewer=nils, by=nils.user)
    reviewer_services.file_blind_read(opinion, by=nils.user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(
        opinion, by=nils.user, radpeer="1", patient_summary="Reassuring."
    )
    reviewer_services.sign_report(opinion, by=nils.user, signed_name="Dr. Nils Berg")
    reviewer_services.ask_question(opinion, by=world.users["alice"], text="What next?")


def _closed_after_the_report(case: Case, world: World) -> None:
    _reported(case, world)
    triage.close_case(case, by=world.users["coordinator"], reason="Report read.")


def _closed_in_review(case: Case, world: World) -> None:
    _claimed(case, world)
    triage.close_case(case, by=world.users["coordinator"], reason="Withdrawn.")


# The case's states: how to bring it there from "queued, unclaimed", and what holds then.
STATES: dict[str, tuple[Callable, State]] = {
    "draft": (_status(Case.Status.DRAFT), State(Case.Status.DRAFT)),
    "submitted": (_status(Case.Status.SUBMITTED), State(Case.Status.SUBMITTED)),
    "needs records": (_status(Case.Status.NEEDS_RECORDS), State(Case.Status.NEEDS_RECORDS)),
    "awaiting insurance": (
        _status(Case.Status.AWAITING_INSURANCE),
        State(Case.Status.AWAITING_INSURANCE),
    ),
    "queued, unclaimed": (lambda case, world: None, State(Case.Status.QUEUED)),
    "in review, claimed": (_claimed, State(Case.Status.IN_REVIEW, holder="reviewer")),
    "queued, released": (_released, State(Case.Status.QUEUED)),
    "in review, reassigned": (_reassigned, State(Case.Status.IN_REVIEW, holder="reviewer")),
    "report ready": (
        _reported,
        State(Case.Status.REPORT_READY, holder="reviewer", blind=False, signed=True),
    ),
    "closed after the report": (
        _closed_after_the_report,
        State(Case.Status.CLOSED, holder="reviewer", blind=False, signed=True),
    ),
    "closed in review": (_closed_in_review, State(Case.Status.CLOSED, holder="reviewer")),
}


@dataclass(frozen=True)
class StateRow:
    """A URL of the case: its other arguments, method, who may (role, state) -> bool, and what
    to open first in the same session."""

    kwargs: dict[str, str]
    may: Callable[[str, State], bool]
    method: str = "GET"
    before: str | None = None  # a URL name opened (GET) first, with the case's code
    # What a role that may use it gets: an empty POST to a form is refused as invalid (400).
    granted: str = "allow"


def _owner(role: str, state: State) -> bool:
    return role == "alice"


STATE_ROWS: dict[str, StateRow] = {
    # The patient's own records: hers in every state, nobody else's.
    "requests:case-detail": StateRow({}, _owner),
    "records:document-download": StateRow({"document": "doc"}, _owner),
    "records:series-preview": StateRow({"series": "series"}, _owner, before="requests:case-detail"),
    "opinions:report-pdf": StateRow(
        {"opinion": "opinion"}, lambda role, state: role == "alice" and state.signed
    ),
    # The reviewer portal: the question while it waits in the queue, the images from the claim
    # until release, reassignment or close, the records once the reviewer's own reading is in.
    "reviewers:case-detail": StateRow({}, lambda role, state: state.in_scope(role)),
    "reviewers:case-seen": StateRow({}, lambda role, state: state.in_scope(role), "POST"),
    "reviewers:case-claim": StateRow({}, lambda role, state: state.in_scope(role), "POST"),
    "reviewers:case-release": StateRow({}, lambda role, state: state.in_scope(role), "POST"),
    "reviewers:study-zip": StateRow({}, lambda role, state: state.holds(role)),
    "reviewers:study-viewer": StateRow({}, lambda role, state: state.holds(role)),
    "reviewers:series-preview": StateRow(
        {"series": "series"},
        lambda role, state: state.holds(role),
        before="reviewers:case-detail",
    ),
    "reviewers:document-download": StateRow(
        {"document": "doc"}, lambda role, state: state.holds(role) and not state.blind
    ),
    "reviewers:read-file": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:read-grade": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:consult-file": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:read-sign": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:opinion-pdf": StateRow(
        {"opinion": "opinion"}, lambda role, state: state.holds(role) and state.signed
    ),
    "reviewers:question-answer": StateRow(
        {"question": "question"}, lambda role, state: state.holds(role) and state.signed, "POST"
    ),
}
