"""Eligibility: who tells us a member's benefits. Our own rules table, or a clearinghouse.

`EligibilityClient` is the interface. `RulesEngineClient` (the default) answers from the plans
coordinators keep in the admin. `X12FileClient` speaks ASC X12 005010X279A1: it writes a 270
eligibility inquiry to an outbox folder and reads the clearinghouse's 271 response from an inbox
folder, the way file-drop (SFTP) clearinghouses work; a real-time (HTTP) clearinghouse is another
class with the same `check`. `build_270` and `parse_271` are pure functions.

The 270 carries the member's name, birth date and member ID: the folders hold PHI and must be as
private as the database. File names carry only the case's UUID and the inquiry's trace number.

Each inquiry has its own trace number (`inquiry_trace`), sent in the 270's TRN segment; the payer
returns it in the 271's (TRN*2). A 271 is applied only to the inquiry whose trace it returns, so
after a change of plan or member ID the answer about the old one is never shown as current.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from secondopinion.dated import in_force

from .coverage import PlanRules
from .figures import PART_B_DEDUCTIBLE
from .models import Plan, PlanType

SERVICE_TYPE_CONSULTATION = "3"
SERVICE_TYPE_DIAGNOSTIC_XRAY = "4"
SERVICE_TYPE_PLAN = "30"  # health benefit plan coverage: the plan-wide answer


@dataclass(frozen=True)
class EligibilityInquiry:
    case_code: str
    plan_id: int | None
    payer_name: str
    payer_id: str
    member_id: str
    group_number: str = ""
    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None
    service_type: str = SERVICE_TYPE_DIAGNOSTIC_XRAY
    service_date: date | None = None  # None: today


@dataclass(frozen=True)
class EligibilityResult:
    rules: PlanRules | None
    source: str
    pending: bool = False  # asked, no answer yet: the rules are the plan's, not the member's
    messages: tuple[str, ...] = ()


class EligibilityClient(Protocol):
    name: str

    def check(self, inquiry: EligibilityInquiry) -> EligibilityResult: ...


def plan_rules(plan: Plan, *, on: date | None = None) -> PlanRules:
    """A plan's rules from the database as the plain values `insurance.coverage` works on.

    Original Medicare's Part B deductible is the one in force on the date of service `on`
    (today when not given), from the dated table, whatever the plan row says.
    """
    deductible = plan.deductible
    if plan.plan_type == PlanType.MEDICARE:
        deductible = in_force(PART_B_DEDUCTIBLE, on or timezone.localdate()).value
    return PlanRules(
        payer=plan.payer.name,
        plan=plan.name,
        plan_type=plan.plan_type,
        second_opinion=plan.second_opinion,
        covers_reread=plan.covers_reread,
        reread_code=plan.reread_code,
        prior_auth_required=plan.prior_auth_required,
        referral_required=plan.referral_required,
        cost_sharing=plan.cost_sharing,
        copay=plan.copay,
        deductible=deductible,
        coinsurance_percent=plan.coinsurance_percent,
        has_network=plan.has_network,
        in_network_reviewer_ids=frozenset(plan.in_network_reviewers.values_list("pk", flat=True)),
        in_network_facilities=frozenset(name.casefold() for name in plan.facility_names),
        out_of_network_covered=plan.out_of_network_covered,
        out_of_network_deductible=plan.out_of_network_deductible,
        out_of_network_coinsurance_percent=plan.out_of_network_coinsurance_percent,
    )


class RulesEngineClient:
    """The default: the plan's rules as coordinators entered them."""

    name = "rules"

    def check(self, inquiry: EligibilityInquiry) -> EligibilityResult:
        plan = Plan.objects.select_related("payer").filter(pk=inquiry.plan_id).first()
        if plan is None:
            return EligibilityResult(rules=None, source=self.name)
        return EligibilityResult(rules=plan_rules(plan, on=inquiry.service_date), source=self.name)


# --- X12 270/271 -------------------------------------------------------------------------------

SEPARATORS = {"element": "*", "repetition": "^", "component": ":", "segment": "~"}
_UNSAFE = re.compile(r"[*^:~\r\n]")


def _clean(value: str, length: int | None = None) -> str:
    """An element value: no separator characters, upper case, at most `length` characters."""
    text = _UNSAFE.sub(" ", value or "").strip().upper()
    return text[:length] if length else text


def inquiry_trace(inquiry: EligibilityInquiry) -> str:
    """The trace number of one inquiry: the same question gets the same number, any other
    question (another plan, member, service type) another; keyed, so it reveals nothing of the
    member it was made from."""
    asked = "|".join(
        str(value)
        for value in (
            inquiry.case_code,
            inquiry.plan_id,
            inquiry.payer_id,
            inquiry.payer_name,
            inquiry.member_id,
            inquiry.group_number,
            inquiry.first_name,
            inquiry.last_name,
            inquiry.birth_date,
            inquiry.service_type,
        )
    )
    return salted_hmac("insurance.client.inquiry_trace", asked).hexdigest()[:30].upper()


@dataclass(frozen=True)
class Submitter:
    """Who sends the 270 (our clearinghouse account) and the provider asking (our NPI)."""

    sender_id: str
    provider_name: str
    provider_npi: str
    usage: str = "T"  # ISA15: T for test, P for production


def build_270(
    inquiry: EligibilityInquiry, *, submitter: Submitter, control_number: int, now: datetime
) -> str:
    """A 005010X279A1 eligibility inquiry for one member and one service type."""
    ctl = f"{control_number:09d}"
    trace = inquiry_trace(inquiry)
    receiver = _clean(inquiry.payer_id or inquiry.payer_name, 15)
    isa = "*".join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            _clean(submitter.sender_id, 15).ljust(15),
            "ZZ",
            receiver.ljust(15),
            now.strftime("%y%m%d"),
            now.strftime("%H%M"),
            SEPARATORS["repetition"],
            "00501",
            ctl,
            "0",
            submitter.usage,
            SEPARATORS["component"],
        ]
    )
    body = [
        ["ST", "270", "0001", "005010X279A1"],
        ["BHT", "0022", "13", trace, now.strftime("%Y%m%d"), now.strftime("%H%M")],
        ["HL", "1", "", "20", "1"],
        ["NM1", "PR", "2", _clean(inquiry.payer_name, 60), "", "", "", "", "PI", receiver],
        ["HL", "2", "1", "21", "1"],
        [
            "NM1",
            "1P",
            "2",
            _clean(submitter.provider_name, 60),
            "",
            "",
            "",
            "",
            "XX",
            _clean(submitter.provider_npi, 10),
        ],
        ["HL", "3", "2", "22", "0"],
        ["TRN", "1", trace, _clean(submitter.sender_id, 10)],
        [
            "NM1",
            "IL",
            "1",
            _clean(inquiry.last_name, 60),
            _clean(inquiry.first_name, 35),
            "",
            "",
            "",
            "MI",
            _clean(inquiry.member_id, 80),
        ],
    ]
    if inquiry.group_number:
        body.append(["REF", "6P", _clean(inquiry.group_number, 50)])
    if inquiry.birth_date:
        body.append(["DMG", "D8", inquiry.birth_date.strftime("%Y%m%d")])
    body.append(["DTP", "291", "D8", now.strftime("%Y%m%d")])
    body.append(["EQ", inquiry.service_type])
    body.append(["SE", str(len(body) + 1), "0001"])
    segments = [
        isa,
        "*".join(
            [
                "GS",
                "HS",
                _clean(submitter.sender_id, 15),
                receiver,
                now.strftime("%Y%m%d"),
                now.strftime("%H%M"),
                str(control_number),
                "X",
                "005010X279A1",
            ]
        ),
        *("*".join(segment).rstrip("*") for segment in body),
        f"GE*1*{control_number}",
        f"IEA*1*{ctl}",
    ]
    return SEPARATORS["segment"].join(segments) + SEPARATORS["segment"] + "\n"


@dataclass
class Benefits:
    """What a 271 said about the member, for the service type asked about."""

    active: bool | None = None
    copay: Decimal | None = None
    coinsurance_percent: Decimal | None = None
    deductible: Decimal | None = None
    deductible_remaining: Decimal | None = None
    prior_auth_required: bool | None = None
    out_of_network_coinsurance_percent: Decimal | None = None
    rejections: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)  # the inquiries' trace numbers (TRN*2)


# AAA03 reject reasons a person can act on (the rest are shown as their code).
REJECT_REASONS = {
    "42": "the insurer's system is unavailable right now",
    "72": "the member ID is not valid",
    "73": "the member's name is not valid",
    "75": "the insurer cannot find this member",
    "76": "this is a duplicate member ID",
    "79": "the inquiry was not valid",
}


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def parse_271(text: str, *, service_type: str = SERVICE_TYPE_DIAGNOSTIC_XRAY) -> Benefits:
    """Read a 005010X279A1 eligibility response.

    Benefits for the service type asked about win over plan-wide ones (service type 30), because
    payers answer both and the specific one is what applies.
    """
    text = text.strip()
    if not text.startswith("ISA") or len(text) < 106:
        raise ValueError("Not an X12 interchange: it must start with a full ISA segment.")
    element, repetition, terminator = text[3], text[82], text[105]
    segments = [s.strip() for s in text.split(terminator) if s.strip()]
    benefits = Benefits()
    rank: dict[str, int] = {}  # which service type set each value (2 specific, 1 plan-wide)

    def put(name: str, value, level: int) -> None:
        if value is not None and level >= rank.get(name, 0):
            setattr(benefits, name, value)
            rank[name] = level

    for segment in segments:
        parts = segment.split(element)
        tag = parts[0]
        if tag == "TRN" and len(parts) > 2 and parts[1] == "2":
            benefits.traces.append(parts[2])
        elif tag == "AAA" and len(parts) > 3 and parts[1] == "N":
            benefits.rejections.append(REJECT_REASONS.get(parts[3], f"reject reason {parts[3]}"))
        elif tag == "MSG" and len(parts) > 1:
            benefits.messages.append(parts[1])
        elif tag == "EB":
            parts += [""] * (13 - len(parts))
            code, types = parts[1], parts[3].split(repetition) if parts[3] else []
            if types and service_type not in types and SERVICE_TYPE_PLAN not in types:
                continue
            level = 2 if service_type in types else 1
            network = parts[12]
            amount, percent = _decimal(parts[7]), _decimal(parts[8])
            if code == "1":
                put("active", True, level)
            elif code == "6":
                put("active", False, level)
            elif code == "B":
                put("copay", amount, level)
            elif code == "A" and percent is not None:
                target = (
                    "out_of_network_coinsurance_percent"
                    if network == "N"
                    else "coinsurance_percent"
                )
                put(target, percent * 100, level)
            elif code == "C":
                put("deductible_remaining" if parts[6] == "29" else "deductible", amount, level)
            if parts[11] in ("Y", "N"):
                put("prior_auth_required", parts[11] == "Y", level)
    return benefits


def apply_benefits(rules: PlanRules, benefits: Benefits) -> PlanRules:
    """The plan's rules, refined by what the insurer said about this member."""
    changes = {
        name: getattr(benefits, name)
        for name in (
            "active",
            "copay",
            "coinsurance_percent",
            "deductible",
            "deductible_remaining",
            "prior_auth_required",
            "out_of_network_coinsurance_percent",
        )
        if getattr(benefits, name) is not None
    }
    if benefits.out_of_network_coinsurance_percent is not None:
        changes["out_of_network_covered"] = True
    return replace(rules, **changes)


class X12FileClient:
    """Eligibility through a file-drop clearinghouse: 270 out, 271 back, one pair per case."""

    name = "x12-files"

    def __init__(self, *, outbox: Path, inbox: Path, submitter: Submitter) -> None:
        self.outbox, self.inbox, self.submitter = Path(outbox), Path(inbox), submitter

    def _answer(self, inquiry: EligibilityInquiry, trace: str) -> Benefits | None:
        """The 271 in the inbox that answers this very inquiry, if one came."""
        for response in sorted(self.inbox.glob(f"{inquiry.case_code}*.271")):
            try:
                benefits = parse_271(response.read_text(), service_type=inquiry.service_type)
            except ValueError:
                continue  # not an interchange: nothing it says can be trusted
            if trace in benefits.traces:
                return benefits
        return None

    def check(self, inquiry: EligibilityInquiry) -> EligibilityResult:
        base = RulesEngineClient().check(inquiry).rules
        trace = inquiry_trace(inquiry)
        benefits = self._answer(inquiry, trace)
        if benefits is not None:
            if benefits.rejections:
                return EligibilityResult(
                    rules=base,
                    source=self.name,
                    messages=tuple(
                        f"The insurer could not answer: {r}." for r in benefits.rejections
                    ),
                )
            rules = apply_benefits(base, benefits) if base else None
            return EligibilityResult(
                rules=rules, source=self.name, messages=tuple(benefits.messages)
            )
        request = self.outbox / f"{inquiry.case_code}-{trace}.270"
        if not request.exists():
            self.outbox.mkdir(parents=True, exist_ok=True)
            control = int(trace[:8], 16) % 1_000_000_000
            request.write_text(
                build_270(
                    inquiry, submitter=self.submitter, control_number=control, now=timezone.now()
                )
            )
        return EligibilityResult(
            rules=base,
            source=self.name,
            pending=True,
            messages=("Eligibility inquiry sent to the insurer; waiting for the answer.",),
        )


def get_client() -> EligibilityClient:
    """The configured client: INSURANCE_ELIGIBILITY_CLIENT, a dotted path that settings derive
    from INSURANCE_ELIGIBILITY (default: rules)."""
    path = getattr(settings, "INSURANCE_ELIGIBILITY_CLIENT", "") or (
        "insurance.client.RulesEngineClient"
    )
    cls = import_string(path)
    if cls is X12FileClient:
        return X12FileClient(
            outbox=Path(settings.INSURANCE_X12_OUTBOX),
            inbox=Path(settings.INSURANCE_X12_INBOX),
            submitter=Submitter(
                sender_id=settings.INSURANCE_X12_SENDER_ID,
                provider_name=settings.INSURANCE_PROVIDER_NAME,
                provider_npi=settings.INSURANCE_PROVIDER_NPI,
                usage=settings.INSURANCE_X12_USAGE,
            ),
        )
    return cls()
