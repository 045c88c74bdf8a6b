"""The audit log of reads: who saw which record of which case, when and from where."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

from allauth.account.adapter import get_adapter
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import AuditEvent


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
) -> AuditEvent:
    """Write one audit record for one access (or refused access) to a record."""
    user = request.user if request.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        action=action,
        target_type=target_type,
        target_code=str(target_code),
        case_code=case_code,
        ip_address=client_ip(request),
        shown=shown or [],
    )


def _previews_key(case_code: UUID) -> str:
    return f"previews:{case_code}"


def record_page(
    request,
    *,
    page: str,
    case,
    reports: Iterable[object] = (),
    series: Iterable[object] = (),
) -> AuditEvent | None:
    """One audit record for a page that shows a case's records, naming each one it shows.

    The series previews the page embeds are then served to this session without a record each
    (`previews_open`): the page's record already names them. Nothing shown, nothing written.
    """
    series = list(series)
    shown = [f"opinion-report:{code}" for code in reports]
    shown += [f"series-preview:{code}" for code in series]
    if not shown:
        return None
    record = record_access(
        request,
        action=AuditEvent.Action.VIEW,
        target_type=page,
        target_code=case.code,
        case_code=case.code,
        shown=shown,
    )
    if series:
        open_previews(request, case)
    return record


def open_previews(request, case) -> None:
    """Let this session fetch the case's previews: a page naming them was just audited."""
    request.session[_previews_key(case.code)] = True


def previews_open(request, case) -> bool:
    """Whether a page that showed this case's previews was opened (and audited) in the session."""
    return bool(request.session.get(_previews_key(case.code)))


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
