"""The audit log of reads: who saw which record of which case, when and from where."""

from uuid import UUID

from .models import AuditEvent


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: a forwarded header can be forged by the client unless a trusted proxy
    # rewrites it, and the proxy in front of gunicorn is configured to set REMOTE_ADDR.
    return request.META.get("REMOTE_ADDR") or None


def record_access(
    request, *, action: str, target_type: str, target_code: object, case_code: UUID | None
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
    )
