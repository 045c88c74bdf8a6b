"""The patient's shares of their second opinion: a link for one named person, and a passcode.

The link's token (256 bits) and the 6-digit passcode are given to the patient once and kept only
as hashes: the token's SHA-256 (to find the share), the passcode's HMAC under the site's key and
a salt of its own (6 digits are too few to keep as a bare hash). Both are compared in constant
time. Wrong passcodes lock the share after `MAX_ATTEMPTS`; a share also ends when it expires,
is revoked, or has been opened `max_opens` times.
"""

import hashlib
import secrets
import time
from datetime import timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from .models import Case, Message, Notification, Share, ShareOpen
from .notifications import absolute_url, case_link, notify
from .services import add_to_timeline

DEFAULT_DAYS = 14
MIN_DAYS, MAX_DAYS = 1, 90
DEFAULT_MAX_OPENS = 20
MAX_OPENS_LIMIT = 100
MAX_ATTEMPTS = 5
# Wrong passcodes one client address may enter, whichever shares they were for, per window.
MAX_ATTEMPTS_PER_ADDRESS = 20
ADDRESS_WINDOW_SECONDS = 3600


class ShareError(Exception):
    """Why a share cannot be made, in words for the patient."""


class NewShare(NamedTuple):
    share: Share
    token: str  # shown to the patient once, inside the link
    passcode: str  # shown to the patient once


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _passcode_hash(salt: str, passcode: str) -> str:
    return salted_hmac(
        "requests_app.shares.passcode", f"{salt}:{passcode}", algorithm="sha256"
    ).hexdigest()


def has_signed_report(case: Case) -> bool:
    return case.opinions.filter(signed_at__isnull=False).exists()


def shares_page(case: Case) -> str:
    return reverse("shares:list", args=[case.code])


def create_share(
    case: Case,
    *,
    by,
    recipient_name: str,
    recipient_email: str = "",
    days: int = DEFAULT_DAYS,
    max_opens: int = DEFAULT_MAX_OPENS,
    sent_to_doctor: bool = False,
    passcode_by_email: bool = False,
) -> NewShare:
    """A new share of the case's signed report, made by its patient.

    With `passcode_by_email` no passcode opens it until the recipient asks for a one-time code
    by e-mail (`email_code`), and the returned passcode is empty."""
    if by.pk != case.patient_id:
        raise ShareError("Only the patient can share this report.")
    if not has_signed_report(case):
        raise ShareError("There is no signed report to share yet.")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ShareError(f"A share lasts from {MIN_DAYS} to {MAX_DAYS} days.")
    if not 1 <= max_opens <= MAX_OPENS_LIMIT:
        raise ShareError(f"A share can be opened from 1 to {MAX_OPENS_LIMIT} times.")
    if not recipient_name.strip():
        raise ShareError("Write the name of the person you share it with.")
    if (sent_to_doctor or passcode_by_email) and not recipient_email.strip():
        raise ShareError("Write the e-mail address of the person you share it with.")
    token = secrets.token_urlsafe(32)
    passcode = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(16)
    share = Share.objects.create(
        case=case,
        recipient_name=recipient_name.strip(),
        recipient_email=recipient_email.strip(),
        token_hash=token_hash(token),
        passcode_salt=salt,
        passcode_hash="" if passcode_by_email else _passcode_hash(salt, passcode),
        expires_at=timezone.now() + timedelta(days=days),
        max_opens=max_opens,
        sent_to_doctor=sent_to_doctor,
        passcode_by_email=passcode_by_email,
    )
    return NewShare(share, token, "" if passcode_by_email else passcode)


def is_live(share: Share) -> bool:
    """Not revoked, not expired, not locked: a session that entered the passcode may read."""
    return (
        share.revoked_at is None and share.locked_at is None and timezone.now() < share.expires_at
    )


def find_share(token: str) -> Share | None:
    """The live share this token opens, or None whatever the reason (no hint which)."""
    digest = token_hash(token)
    share = Share.objects.filter(token_hash=digest).select_related("case__patient").first()
    if share is None or not constant_time_compare(share.token_hash, digest):
        return None
    return share if is_live(share) else None


def can_open(share: Share) -> bool:
    """Whether the passcode may still be tried: live, and opened fewer than `max_opens` times."""
    return is_live(share) and share.opens.count() < share.max_opens


def try_passcode(share: Share, passcode: str) -> bool:
    """Check a passcode: right, it counts as one open and tells the patient; wrong, it counts
    as one attempt, and the last allowed attempt locks the share and tells the patient."""
    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("case__patient").get(pk=share.pk)
        if not can_open(share):
            return False
        expected = _passcode_hash(share.passcode_salt, passcode.strip())
        if share.passcode_by_email and not _code_fresh(share):
            expected = "-"  # no code sent, or too long ago: nothing is right
        if constant_time_compare(share.passcode_hash, expected):
            ShareOpen.objects.create(share=share)
            if share.passcode_by_email:  # a one-time code
                share.passcode_hash = ""
                share.save(update_fields=["passcode_hash"])
            notify(
                share.case.patient,
                kind=Notification.Kind.SHARE,
                title="Your shared report was opened",
                body="Someone you shared your second opinion with opened it.",
                case=share.case,
                link=shares_page(share.case),
                email=False,
            )
            return True
        share.failed_attempts += 1
        fields = ["failed_attempts"]
        if share.failed_attempts >= MAX_ATTEMPTS:
            share.locked_at = timezone.now()
            fields.append("locked_at")
            notify(
                share.case.patient,
                kind=Notification.Kind.SHARE,
                title="A shared report was locked",
                body="A wrong passcode was entered too many times, so the link no longer opens. "
                "You can share your report again with a new link.",
                case=share.case,
                link=shares_page(share.case),
            )
        share.save(update_fields=fields)
        return False


def _address_key(address: str) -> str:
    window = int(time.time()) // ADDRESS_WINDOW_SECONDS
    return f"share-passcode-failures:{address}:{window}"


def address_blocked(address: str | None) -> bool:
    """Whether this client address entered `MAX_ATTEMPTS_PER_ADDRESS` wrong passcodes in the
    current window; a blocked address may not try any share's passcode until it ends. (An
    unknown address counts as one, so that hiding it does not lift the limit.)"""
    return cache.get(_address_key(address or "unknown"), 0) >= MAX_ATTEMPTS_PER_ADDRESS


def count_wrong_passcode(address: str | None) -> None:
    key = _address_key(address or "unknown")
    cache.add(key, 0, timeout=ADDRESS_WINDOW_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=ADDRESS_WINDOW_SECONDS)


def revoke(share: Share) -> bool:
    """End one share now; False if it had already been revoked."""
    return bool(
        Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def revoke_all(case: Case) -> list[Share]:
    """End every share of the case not yet revoked; returns those it ended."""
    ended = list(Share.objects.filter(case=case, revoked_at__isnull=True))
    Share.objects.filter(pk__in=[s.pk for s in ended]).update(revoked_at=timezone.now())
    return ended


# --- Sent to the patient's doctor ---------------------------------------------------------------

CODE_MINUTES = 15
CODE_RESEND_SECONDS = 60
REPLY_MAX_CHARS = 5000


def _code_fresh(share: Share) -> bool:
    return share.code_sent_at is not None and timezone.now() < share.code_sent_at + timedelta(
        minutes=CODE_MINUTES
    )


def _send(to: str, subject: str, template: str, context: dict) -> None:
    EmailMessage(subject, render_to_string(template, context), to=[to]).send()


def send_to_doctor(
    case: Case,
    *,
    by,
    doctor_name: str,
    doctor_email: str,
    passcode_by_email: bool = False,
    days: int = DEFAULT_DAYS,
    max_opens: int = DEFAULT_MAX_OPENS,
) -> NewShare:
    """Share the case with the patient's doctor and e-mail them the link: no medical details,
    not even the patient's name; the passcode comes from the patient, or by e-mail on request."""
    created = create_share(
        case,
        by=by,
        recipient_name=doctor_name,
        recipient_email=doctor_email,
        days=days,
        max_opens=max_opens,
        sent_to_doctor=True,
        passcode_by_email=passcode_by_email,
    )
    share = created.share
    _send(
        share.recipient_email,
        "A patient shared a second opinion with you",
        "emails/share-to-doctor.txt",
        {
            "name": share.recipient_name,
            "url": absolute_url(reverse("share-open", args=[created.token])),
            "share": share,
            "code_minutes": CODE_MINUTES,
        },
    )
    return created


def email_code(share: Share) -> bool:
    """E-mail the recipient a new one-time passcode (the last one stops working); False if this
    share does not take one, cannot be opened, or a code went less than a minute ago."""
    with transaction.atomic():
        share = Share.objects.select_for_update().get(pk=share.pk)
        if not share.passcode_by_email or not can_open(share):
            return False
        now = timezone.now()
        if share.code_sent_at and now < share.code_sent_at + timedelta(seconds=CODE_RESEND_SECONDS):
            return False
        code = f"{secrets.randbelow(10**6):06d}"
        share.passcode_salt = secrets.token_hex(16)
        share.passcode_hash = _passcode_hash(share.passcode_salt, code)
        share.code_sent_at = now
        share.save(update_fields=["passcode_salt", "passcode_hash", "code_sent_at"])
    _send(
        share.recipient_email,
        "Your passcode for SecondOpinion",
        "emails/share-code.txt",
        {"name": share.recipient_name, "code": code, "code_minutes": CODE_MINUTES},
    )
    return True


def can_reply(share: Share) -> bool:
    return share.sent_to_doctor and share.replied_at is None and is_live(share)


def reply(share: Share, body: str) -> Message:
    """The doctor's one reply to the patient: a message on the case, and a notification."""
    body = body.strip()
    if not body:
        raise ShareError("Write your reply before sending it.")
    if len(body) > REPLY_MAX_CHARS:
        raise ShareError(f"Please keep your reply under {REPLY_MAX_CHARS} characters.")
    with transaction.atomic():
        share = Share.objects.select_for_update().select_related("case__patient").get(pk=share.pk)
        if not can_reply(share):
            raise ShareError("You have already replied; your patient has your reply.")
        message = Message.objects.create(
            case=share.case, author=None, share=share, from_care_team=False, body=body
        )
        share.replied_at = message.created_at
        share.save(update_fields=["replied_at"])
        add_to_timeline(share.case, None, "Reply from the doctor you shared your report with")
        notify(
            share.case.patient,
            kind=Notification.Kind.MESSAGE,
            title="Your doctor replied to the report you shared",
            body="Log in to read the reply.",
            case=share.case,
            link=case_link(share.case, anchor="messages"),
        )
    return message
