"""Records requests to the facility that did the scan, and the HIPAA right-of-access clock.

Under 45 CFR 164.524(b)(2) the facility must act within 30 days of receiving the request, and may
take one extension of up to 30 days if within the first 30 it tells the patient in writing why
and the date it will act. The clock therefore starts at the facility's receipt: the day the
patient confirms, else the day sent plus the delivery time of the way it went (figures and their
sources in `records.access_rules`). Every step the patient takes is written on the case's
timeline; reminders go out once each, claimed with a conditional UPDATE so a second beat run
cannot send them again.
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from requests_app.models import Case, Notification
from requests_app.notifications import notify
from requests_app.services import active_authorization, add_to_timeline
from secondopinion.dated import in_force
from secondopinion.pdf import render_pdf

from .access_rules import ACCESS_DEADLINE, FLAT_FEE_ELECTRONIC, MAIL_BUFFER
from .models import RecordsRequest

REMIND_DAYS_BEFORE = 7

# The fields the patient fills in the request form; signing and the clock are set by services.
DRAFT_FIELDS = (
    "facility_name",
    "facility_address",
    "facility_email",
    "facility_fax",
    "exam_date",
    "exam_description",
    "wants_images",
    "wants_report",
    "wants_prior_mammograms",
    "wants_pathology",
    "delivery",
    "send_to_us",
    "send_to",
)


class RecordsRequestError(Exception):
    """A step the request's current state does not allow; the message is for the patient."""


def initial_values(case: Case) -> dict:
    """What a new request starts with, taken from what the patient told us about the scan."""
    mammogram = case.is_mammogram
    return {
        "facility_name": case.facility_name,
        "facility_address": case.facility_location,
        "exam_date": case.exam_date,
        "exam_description": case.title,
        "wants_images": True,
        "wants_report": True,
        "wants_prior_mammograms": mammogram,
        "wants_pathology": mammogram,
    }


def _claim_draft(records_request: RecordsRequest, **values) -> None:
    """Write to the request only while it is unsent: a double submit cannot edit a sent letter."""
    values["updated_at"] = timezone.now()
    claimed = RecordsRequest.objects.filter(pk=records_request.pk, sent_on__isnull=True).update(
        **values
    )
    if claimed != 1:
        raise RecordsRequestError("This request has been sent, so it can no longer be changed.")
    for name, value in values.items():
        setattr(records_request, name, value)


def _fields_for(case: Case, fields: dict) -> dict:
    unknown = set(fields) - set(DRAFT_FIELDS)
    if unknown:
        raise ValueError(f"Not fields of a records request form: {sorted(unknown)}")
    if not case.is_mammogram:
        fields = {**fields, "wants_prior_mammograms": False, "wants_pathology": False}
    return fields


def create_draft(case: Case, *, by, fields: dict) -> RecordsRequest:
    """Start a records request (draft, unsigned) and note it on the case's timeline."""
    with transaction.atomic():
        records_request = RecordsRequest.objects.create(case=case, **_fields_for(case, fields))
        add_to_timeline(
            records_request.case, by=by, message="Records request to the imaging facility started."
        )
    return records_request


def update_draft(records_request: RecordsRequest, *, by, fields: dict) -> None:
    """Change an unsent request; a signature given to the old text no longer stands."""
    fields = _fields_for(records_request.case, fields)
    with transaction.atomic():
        _claim_draft(records_request, **fields, signed_name="", signed_at=None, authorization=None)
        add_to_timeline(records_request.case, by=by, message="Records request changed.")


def sign(records_request: RecordsRequest, *, by, signed_name: str) -> None:
    """draft -> signed: the patient signs the letter by typing their name.

    A letter asking the facility to send the records to us rests on the patient's HIPAA
    authorization: it needs one that is in force now, and names it. Once that authorization is
    revoked no new letter can be signed with it.
    """
    name = " ".join(signed_name.split())
    if not name:
        raise RecordsRequestError("Type your full name to sign the letter.")
    authorization = None
    if records_request.send_to_us:
        authorization = active_authorization(records_request.case)
        if authorization is None:
            raise RecordsRequestError(
                "This letter asks the facility to send your records to us, which needs your "
                "signed HIPAA authorization, and none is in force. Sign one, or ask for the "
                "records to be sent to you."
            )
    now = timezone.now()
    with transaction.atomic():
        _claim_draft(records_request, signed_name=name, signed_at=now, authorization=authorization)
        add_to_timeline(
            records_request.case, by=by, at=now, message="Records request letter signed."
        )


def receipt_on(records_request: RecordsRequest) -> date | None:
    """The day the facility received the request: as the patient confirmed it, else the day it
    was sent plus the longest usual delivery time of the way it went."""
    if records_request.request_received_on:
        return records_request.request_received_on
    if not records_request.sent_on:
        return None
    buffers = in_force(MAIL_BUFFER, records_request.sent_on).value
    days = buffers[records_request.sent_by or RecordsRequest.SentBy.MAIL]
    return records_request.sent_on + timedelta(days=days)


def deadline(records_request: RecordsRequest) -> date | None:
    """When the facility must have acted: 30 days from receipt; with a noted extension, the date
    the facility gave or 60 days from receipt, whichever is earlier (45 CFR 164.524(b)(2))."""
    receipt = receipt_on(records_request)
    if receipt is None:
        return None
    rule = in_force(ACCESS_DEADLINE, receipt).value
    if not records_request.extension_noted_on:
        return receipt + timedelta(days=rule.days_to_act)
    longest = receipt + timedelta(days=rule.days_to_act + rule.extension_days)
    given = records_request.extension_due_on
    return min(given, longest) if given else longest


def _move_deadline(records_request: RecordsRequest, **fields) -> date:
    """Store changed clock inputs and the deadline they give; a later deadline starts the
    reminders over (each goes out once per deadline)."""
    for name, value in fields.items():
        setattr(records_request, name, value)
    due_on = deadline(records_request)
    if due_on != records_request.due_on:
        fields.update(due_on=due_on, reminded_before_at=None, reminded_overdue_at=None)
    RecordsRequest.objects.filter(pk=records_request.pk).update(**fields, updated_at=timezone.now())
    records_request.due_on = due_on
    return due_on


def mark_sent(records_request: RecordsRequest, *, by, sent_on: date, sent_by: str) -> None:
    """signed -> sent: the clock starts from the facility's expected receipt of the letter."""
    if not records_request.is_signed:
        raise RecordsRequestError("Sign the letter before you send it.")
    if sent_by not in RecordsRequest.SentBy.values:
        raise RecordsRequestError("Say how you sent the letter.")
    if sent_on > timezone.localdate():
        raise RecordsRequestError("The date you sent it cannot be in the future.")
    if sent_on < timezone.localdate(records_request.signed_at):
        raise RecordsRequestError("The date you sent it cannot be before you signed the letter.")
    with transaction.atomic():
        claimed = RecordsRequest.objects.filter(pk=records_request.pk, sent_on__isnull=True).update(
            sent_on=sent_on, sent_by=sent_by, updated_at=timezone.now()
        )
        if claimed != 1:
            raise RecordsRequestError("This request has already been marked as sent.")
        records_request.sent_on, records_request.sent_by = sent_on, sent_by
        due_on = _move_deadline(records_request)
        how = records_request.get_sent_by_display().lower()
        add_to_timeline(
            records_request.case,
            by=by,
            message=f"Records request sent to the facility ({how}); answer due by "
            f"{due_on:%b %-d, %Y}.",
        )


def confirm_receipt(records_request: RecordsRequest, *, by, received_request_on: date) -> None:
    """The facility confirmed the day it received the request: the clock counts from then."""
    if not records_request.sent_on:
        raise RecordsRequestError("Mark the request as sent first.")
    if records_request.received_on:
        raise RecordsRequestError("Your records have already arrived.")
    if received_request_on > timezone.localdate() or received_request_on < records_request.sent_on:
        raise RecordsRequestError("The day they received it must be between sending and today.")
    with transaction.atomic():
        locked = RecordsRequest.objects.select_for_update().get(pk=records_request.pk)
        if locked.received_on:
            raise RecordsRequestError("Your records have already arrived.")
        due_on = _move_deadline(records_request, request_received_on=received_request_on)
        add_to_timeline(
            records_request.case,
            by=by,
            message=(
                f"The facility received the records request on {received_request_on:%b %-d, %Y}; "
                f"answer due by {due_on:%b %-d, %Y}."
            ),
        )


def note_extension(
    records_request: RecordsRequest,
    *,
    by,
    noted_on: date,
    new_due_on: date | None = None,
    reason: str = "",
) -> None:
    """sent -> extended: the facility's written notice, given within the first 30 days, moves the
    deadline to the date it gave, or to 60 days from receipt if that is earlier (or it gave none).

    HIPAA allows one extension; the reminders start over.
    """
    if records_request.status != RecordsRequest.Status.SENT:
        raise RecordsRequestError(
            "An extension can be noted once, while the first 30 days are running."
        )
    if noted_on > timezone.localdate() or noted_on < records_request.sent_on:
        raise RecordsRequestError("The notice's date must be between sending and today.")
    if new_due_on is not None and new_due_on < noted_on:
        raise RecordsRequestError("The date the facility gave must come after its notice.")
    with transaction.atomic():
        claimed = RecordsRequest.objects.filter(
            pk=records_request.pk, extension_noted_on__isnull=True, received_on__isnull=True
        ).update(extension_noted_on=noted_on, extension_reason=reason)
        if claimed != 1:
            raise RecordsRequestError("An extension has already been noted for this request.")
        records_request.extension_noted_on = noted_on
        records_request.extension_reason = reason
        due_on = _move_deadline(records_request, extension_due_on=new_due_on)
        capped = new_due_on is not None and due_on < new_due_on
        add_to_timeline(
            records_request.case,
            by=by,
            message=(
                f"The facility extended its deadline to {due_on:%b %-d, %Y}."
                if not capped
                else f"The facility gave {new_due_on:%b %-d, %Y}; HIPAA allows no later than "
                f"{due_on:%b %-d, %Y}, which is the deadline."
            ),
        )
    records_request.refresh_from_db()


def mark_received(records_request: RecordsRequest, *, by, received_on: date) -> None:
    """sent, extended or overdue -> received: the clock stops and reminders end."""
    if not records_request.sent_on:
        raise RecordsRequestError("Mark the request as sent first.")
    if received_on > timezone.localdate() or received_on < records_request.sent_on:
        raise RecordsRequestError("The date they arrived must be between sending and today.")
    with transaction.atomic():
        claimed = RecordsRequest.objects.filter(
            pk=records_request.pk, received_on__isnull=True
        ).update(received_on=received_on, updated_at=timezone.now())
        if claimed != 1:
            raise RecordsRequestError("These records have already been marked as received.")
        add_to_timeline(records_request.case, by=by, message="Records from the facility received.")
    records_request.received_on = received_on


def relied_on_authorization_lapsed(records_request: RecordsRequest) -> bool:
    """An unsent letter to send the records to us whose authorization is no longer in force
    (revoked, replaced, or the request's details changed): it must not go out."""
    if not records_request.send_to_us or records_request.sent_on or not records_request.is_signed:
        return False
    current = active_authorization(records_request.case)
    return current is None or current.pk != records_request.authorization_id


def letter_context(records_request: RecordsRequest) -> dict:
    """What the first letter shows, on the page before signing and in its PDF."""
    signed_at = records_request.signed_at
    letter_date = timezone.localdate(signed_at) if signed_at else timezone.localdate()
    case = records_request.case
    authorization = records_request.authorization
    if authorization is None and records_request.send_to_us and not signed_at:
        authorization = active_authorization(case)  # what signing now would enclose
    return {
        "rr": records_request,
        "case": case,
        "letter_date": letter_date,
        "flat_fee": in_force(FLAT_FEE_ELECTRONIC, letter_date).value,
        "access": in_force(ACCESS_DEADLINE, letter_date).value,
        "authorization": authorization,
        "us": {
            "name": settings.PROVIDER_NAME,
            "address": settings.PROVIDER_ADDRESS,
            "email": settings.RECORDS_INBOX_EMAIL,
        },
    }


def request_letter_pdf(records_request: RecordsRequest) -> bytes:
    """The signed request letter to the facility, made from the request as it stands."""
    if not records_request.is_signed:
        raise RecordsRequestError("Sign the letter first.")
    if relied_on_authorization_lapsed(records_request):
        raise RecordsRequestError(
            "This letter relies on a HIPAA authorization that is no longer in force, so it can "
            "no longer be sent. Change the letter to have the records sent to you, or sign a "
            "new authorization and then the letter again."
        )
    return render_pdf("records/pdf/request_letter.html", letter_context(records_request))


def escalation_letter_pdf(records_request: RecordsRequest, *, by) -> bytes:
    """Overdue only: the second-request letter citing the missed deadline; the first is noted."""
    if not records_request.is_overdue:
        raise RecordsRequestError("A second request is possible only once the deadline has passed.")
    now = timezone.now()
    with transaction.atomic():
        first = RecordsRequest.objects.filter(
            pk=records_request.pk, escalation_generated_at__isnull=True
        ).update(escalation_generated_at=now)
        if first:
            add_to_timeline(
                records_request.case, by=by, at=now, message="Second records request letter made."
            )
            records_request.escalation_generated_at = now
    letter_date = timezone.localdate()
    return render_pdf(
        "records/pdf/escalation_letter.html",
        {
            "rr": records_request,
            "case": records_request.case,
            "letter_date": letter_date,
            "flat_fee": in_force(FLAT_FEE_ELECTRONIC, letter_date).value,
            "access": in_force(ACCESS_DEADLINE, letter_date).value,
            # "The date you gave me" only when the facility gave the date that now applies.
            "date_given": records_request.extension_due_on is not None
            and records_request.due_on == records_request.extension_due_on,
            "us": {
                "name": settings.PROVIDER_NAME,
                "address": settings.PROVIDER_ADDRESS,
                "email": settings.RECORDS_INBOX_EMAIL,
            },
        },
    )


def _request_link(records_request: RecordsRequest) -> str:
    return reverse(
        "records:records-request-detail", args=[records_request.case.code, records_request.code]
    )


def _remind(
    records_request: RecordsRequest, *, field: str, now: datetime, title: str, body: str
) -> bool:
    """Claim one reminder of the request and notify its patient; False if it already went out."""
    with transaction.atomic():
        claimed = RecordsRequest.objects.filter(
            pk=records_request.pk, received_on__isnull=True, **{f"{field}__isnull": True}
        ).update(**{field: now})
        if claimed != 1:
            return False
        case = records_request.case
        first_name = case.patient.first_name
        notify(
            case.patient,
            kind=Notification.Kind.RECORDS_REQUEST,
            title=f"{first_name}, {title}" if first_name else title[0].upper() + title[1:],
            body=body,
            case=case,
            link=_request_link(records_request),
        )
    return True


def due_reminders(*, now: datetime) -> int:
    """Send the reminders that are due: 7 days before the deadline, then once it has passed.

    Each goes out once per deadline (an extension starts them over); returns how many were sent.
    """
    today = timezone.localdate(now)
    open_requests = RecordsRequest.objects.filter(
        sent_on__isnull=False, received_on__isnull=True
    ).select_related("case__patient")
    sent = 0
    soon = open_requests.filter(
        reminded_before_at__isnull=True,
        due_on__gte=today,
        due_on__lte=today + timedelta(days=REMIND_DAYS_BEFORE),
    )
    for records_request in soon:
        days = (records_request.due_on - today).days
        sent += _remind(
            records_request,
            field="reminded_before_at",
            now=now,
            title=f"your records request is due {_in_days(days)}",
            body=(
                "The facility that did your scan has a legal deadline to send your records. "
                "If nothing has arrived yet, call them to check that they have your request. "
                "If the records have arrived, mark them as received on your request page."
            ),
        )
    late = open_requests.filter(reminded_overdue_at__isnull=True, due_on__lt=today)
    for records_request in late:
        sent += _remind(
            records_request,
            field="reminded_overdue_at",
            now=now,
            title="the deadline for your records request has passed",
            body=(
                "The facility has not met the deadline HIPAA sets for sending your records. "
                "Your request page has a second request letter you can download and send them, "
                "and explains how to complain to the HHS Office for Civil Rights."
            ),
        )
    return sent


def _in_days(days: int) -> str:
    if days == 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"
