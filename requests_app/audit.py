"""The audit log of reads: who saw which record of which case, when and from where."""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import IO
from uuid import UUID

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from .models import AuditEvent

logger = logging.getLogger(__name__)


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind our proxy the address it appended to
    X-Forwarded-For (allauth's rule, set by ALLAUTH_TRUSTED_PROXY_COUNT, as for rate limits)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:
        return None


def record_access(
    request,
    *,
    action: str,
    target_type: str,
    target_code: object,
    case_code: UUID | None,
    shown: list[str] | None = None,
    share_code: UUID | None = None,
) -> AuditEvent:
    """Write one audit record for one access (or refused access) to a record.

    `share_code` names the patient's share through which someone without an account read it.
    """
    user = request.user if request.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        action=action,
        target_type=target_type,
        target_code=str(target_code),
        case_code=case_code,
        ip_address=client_ip(request),
        shown=shown or [],
        share_code=share_code,
    )


def record_page(
    request,
    *,
    page: str,
    case,
    reports: Iterable[object] = (),
    series: Iterable[object] = (),
) -> AuditEvent | None:
    """One audit record for a page that shows a case's records, naming each one it shows.

    The series previews the page embeds are then served to this user without a record each
    (`previews_open`): the page's record already names them. Nothing shown, nothing written.
    """
    series = list(series)
    shown = [f"opinion-report:{code}" for code in reports]
    shown += [f"series-preview:{code}" for code in series]
    if not shown:
        return None
    return record_access(
        request,
        action=AuditEvent.Action.VIEW,
        target_type=page,
        target_code=case.code,
        case_code=case.code,
        shown=shown,
    )


# How many of the user's latest page records of a case are searched for a preview's name.
PAGES_SEARCHED = 20


def previews_open(request, case, series: object) -> bool:
    """Whether a page naming this series preview was shown to this user (and audited) since
    they logged in, within a session's life: its record is the permission, so showing the page
    writes nothing but that record."""
    user = request.user
    if not user.is_authenticated:
        return False
    since = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    if user.last_login and user.last_login > since:
        since = user.last_login
    wanted = f"series-preview:{series}"
    pages = AuditEvent.objects.filter(
        actor=user, case_code=case.code, action=AuditEvent.Action.VIEW, at__gte=since
    ).order_by("-at", "-pk")
    return any(wanted in shown for shown in pages.values_list("shown", flat=True)[:PAGES_SEARCHED])


@contextmanager
def refusals_audited(
    request, *, target_type: str, target_code: object, case_code: UUID
) -> Iterator[None]:
    """Audit a 404 raised inside (someone else's case, or none) as a refused read, and re-raise.

    Written whether or not the case exists, so neither the answer nor the work done reveals which.
    """
    try:
        yield
    except Http404:
        record_access(
            request,
            action=AuditEvent.Action.DENIED,
            target_type=target_type,
            target_code=target_code,
            case_code=case_code,
        )
        raise


def serve_file(
    request,
    content: bytes | Callable[[], IO[bytes] | Iterable[bytes]],
    *,
    case,
    target_type: str,
    target_codes: Sequence[object] = (),
    content_type: str,
    filename: str = "",
    inline: bool = False,
    length: int | None = None,
    share_code: UUID | None = None,
) -> HttpResponse | FileResponse:
    """Serve one of a case's files to a caller the view has found may see it: every file a
    patient, a reviewer or a coordinator reads goes out through here.

    - `content` is the bytes of a document made now (a PDF), or opens the stored file or stream.
      A stored file that is gone is a 404 for the caller and an error in our log, and nothing
      is audited, since nothing was read.
    - One download row per code in `target_codes` is written before the first byte. No codes:
      the page that embeds the file (a preview, a viewer's image) was audited naming it, in
      this session (`record_page`, the viewer's session).
    - A download is an attachment, never rendered from our origin; only images a page embeds
      are `inline`. Nothing is kept in a cache.
    """
    try:
        body = content if isinstance(content, bytes) else content()
    except FileNotFoundError:
        logger.error("a stored %s of case %s is missing", target_type, case.code)
        raise Http404("This file is no longer available.") from None
    for code in target_codes:
        record_access(
            request,
            action=AuditEvent.Action.DOWNLOAD,
            target_type=target_type,
            target_code=code,
            case_code=case.code,
            share_code=share_code,
        )
    if isinstance(body, bytes):
        response = HttpResponse(body, content_type=content_type)
    else:
        response = FileResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        "inline" if inline else content_disposition_header(True, filename)
    )
    if length is not None:
        response["Content-Length"] = str(length)
    response["Cache-Control"] = "private, no-store"
    return response
