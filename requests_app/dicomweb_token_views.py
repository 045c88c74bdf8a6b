"""The pages that hand out a DICOMweb token: to the recipient of a share on its page, and to the
reviewer holding a case on theirs. Each token is shown once, on the answer to its form.

The patient sees each share's live tokens on the page of their shares, the reviewer theirs for
the case on a page of its own (made when, last used, until when), and either revokes one at
once; each revocation is audited."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from records.dicomweb import tokens
from records.models import DicomWebToken
from reviewers.access import get_case_for_reviewer

from .audit import record_access
from .models import AuditEvent
from .notifications import absolute_url
from .share_views import _opened_share, _patient_case, recipient_page


def _shown(request: HttpRequest, new: tokens.NewToken, *, back: str) -> HttpResponse:
    record_access(
        request,
        action=AuditEvent.Action.ADD,
        target_type="dicomweb-token",
        target_code=new.row.code,
        case_code=new.row.case.code,
        share_code=new.row.share.code if new.row.share else None,
    )
    # Built from SITE_URL, never from the request's Host header.
    root = absolute_url(reverse("dicomweb:studies")).removesuffix("/studies")
    context = {"token": new.token, "root": root, "expires_at": new.row.expires_at, "back": back}
    response = render(request, "dicomweb/token.html", context)
    add_never_cache_headers(response)
    return response


@recipient_page
@require_POST
def share_token(request: HttpRequest, token: str) -> HttpResponse:
    share = _opened_share(request, token)
    return _shown(request, tokens.issue_for_share(share), back=reverse("share-open", args=[token]))


def _held_case(request: HttpRequest, code: UUID):
    case = get_case_for_reviewer(request.user, code)
    if not tokens.reviewer_holds(case, request.user):
        raise Http404("Claim the case to see its images.")
    return case


@login_required
@require_POST
def reviewer_token(request: HttpRequest, code: UUID) -> HttpResponse:
    case = _held_case(request, code)
    new = tokens.issue_for_reviewer(case, request.user)
    return _shown(request, new, back=reverse("reviewer-dicomweb-tokens", args=[case.code]))


def _revoke(request: HttpRequest, row: DicomWebToken) -> None:
    """Revoke one token at once, audited, and say so."""
    if tokens.revoke(row):
        record_access(
            request,
            action=AuditEvent.Action.REVOKE,
            target_type="dicomweb-token",
            target_code=row.code,
            case_code=row.case.code,
            share_code=row.share.code if row.share else None,
        )
    messages.success(request, "That DICOMweb token no longer opens anything.")


@login_required
@require_GET
def reviewer_tokens(request: HttpRequest, code: UUID) -> HttpResponse:
    """The reviewer's live DICOMweb tokens for the case they hold."""
    case = _held_case(request, code)
    context = {"case": case, "tokens": tokens.live_tokens(case=case, reviewer=request.user)}
    return render(request, "dicomweb/tokens.html", context)


@login_required
@require_POST
def reviewer_token_revoke(request: HttpRequest, code: UUID, token: UUID) -> HttpResponse:
    case = _held_case(request, code)
    live = tokens.live_tokens(case=case, reviewer=request.user).select_related("case", "share")
    _revoke(request, get_object_or_404(live, code=token))
    return redirect("reviewer-dicomweb-tokens", case.code)


@login_required
@require_POST
def share_token_revoke(request: HttpRequest, code: UUID, share: UUID, token: UUID) -> HttpResponse:
    """The patient revokes a token their share's recipient was given."""
    case = _patient_case(request, code)
    found = get_object_or_404(case.shares, code=share)
    live = tokens.live_tokens(share=found).select_related("case", "share")
    _revoke(request, get_object_or_404(live, code=token))
    return redirect("shares:list", case.code)
