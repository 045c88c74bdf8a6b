"""Bearer tokens for DICOMweb, each scoped to one share or one reviewer's assignment of a case.

A token is 256 random bits, given once and kept only as its SHA-256, compared in constant time.
It lives as long as its scope: a share's token until the share expires, is revoked or locked; a
reviewer's until the case is handed to someone else or closed, or the account or profile is
switched off (and at most `REVIEWER_TOKEN_DAYS`), or until its holder revokes it. Whatever the
reason a token does not open, the caller learns nothing of which.

The site's own viewer reads through the same scopes without a token: its session opened the
viewer of one case the reviewer holds, or of one share whose passcode it entered
(`session_scope`).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.crypto import constant_time_compare

from requests_app import shares
from requests_app.models import Case, Share

from ..models import DicomWebToken

REVIEWER_TOKEN_DAYS = 7
# A token's "last used" is written at most once a minute, not on each of a viewer's requests.
LAST_USED_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class Scope:
    """What a token (or the viewer's session, `token` None) may read: the studies of one case,
    for one share or one reviewer."""

    token: DicomWebToken | None
    case: Case
    share: Share | None
    reviewer: object | None  # the reviewer's user account

    @property
    def share_code(self):
        return self.share.code if self.share else None


@dataclass(frozen=True)
class NewToken:
    row: DicomWebToken
    token: str  # shown once


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new(case: Case, **scope) -> NewToken:
    token = secrets.token_urlsafe(32)
    row = DicomWebToken.objects.create(case=case, token_hash=token_hash(token), **scope)
    return NewToken(row, token)


def issue_for_share(share: Share) -> NewToken:
    """A token for a live share's studies; it expires with the share."""
    if not shares.is_live(share):
        raise ValueError("This share no longer opens.")
    return _new(share.case, share=share, expires_at=share.expires_at)


def reviewer_holds(case: Case, user) -> bool:
    """Access follows the work: the reviewer holds the (open) case, their account and profile
    are active."""
    return (
        user.is_active
        and Case.objects.for_reviewer(user)
        .filter(pk=case.pk, assigned_reviewer__user=user)
        .exists()
    )


def issue_for_reviewer(case: Case, user) -> NewToken:
    """A token for the case the reviewer holds now."""
    if not reviewer_holds(case, user):
        raise ValueError("Only the reviewer holding the case may have a token for it.")
    expires = timezone.now() + timedelta(days=REVIEWER_TOKEN_DAYS)
    return _new(case, reviewer=user, expires_at=expires)


def find_scope(token: str) -> Scope | None:
    """The live scope this token opens, or None whatever the reason."""
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    row = (
        DicomWebToken.objects.filter(token_hash=digest)
        .select_related("case", "share", "reviewer")
        .first()
    )
    if row is None or not constant_time_compare(row.token_hash, digest):
        return None
    now = timezone.now()
    if now >= row.expires_at or row.revoked_at is not None:
        return None
    if row.share is not None:
        if not shares.is_live(row.share) or row.share.case_id != row.case_id:
            return None
        scope = Scope(row, row.case, row.share, None)
    elif row.reviewer is None or not reviewer_holds(row.case, row.reviewer):
        return None
    else:
        scope = Scope(row, row.case, None, row.reviewer)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP:
        DicomWebToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return scope


def live_tokens(**scope):
    """The tokens of a scope (`share=` or `case=` and `reviewer=`) that still open, newest first."""
    return DicomWebToken.objects.filter(
        revoked_at__isnull=True, expires_at__gt=timezone.now(), **scope
    )


def revoke(row: DicomWebToken) -> bool:
    """End one token at once; False if it was already revoked."""
    return (
        DicomWebToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        == 1
    )


# --- The site's own viewer ---------------------------------------------------------------------


def reviewer_viewer_key(case: Case) -> str:
    return f"viewer:{case.code}"


def share_viewer_key(share: Share) -> str:
    return f"share-viewer:{share.code}"


def _opened(session, prefix: str) -> list[str]:
    return [key.removeprefix(prefix) for key, _ in session.items() if key.startswith(prefix)]


def session_scope(request, study_uid: str | None) -> Scope | None:
    """The scope of a viewer this session opened (the page's audit record names its studies)
    that holds this study: a case the user still holds, or a share that is still live."""
    if not study_uid:
        return None
    user = request.user
    if user.is_authenticated:
        cases = Case.objects.filter(
            code__in=_opened(request.session, "viewer:"),
            studies__study_instance_uid=study_uid,
        ).distinct()
        for case in cases:
            if reviewer_holds(case, user):
                return Scope(None, case, None, user)
    found = Share.objects.filter(
        code__in=_opened(request.session, "share-viewer:"),
        case__studies__study_instance_uid=study_uid,
    ).select_related("case")
    for share in found.distinct():
        if shares.is_live(share):
            return Scope(None, share.case, share, None)
    return None
