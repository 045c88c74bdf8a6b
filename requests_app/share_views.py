"""Sharing the second opinion: the patient's shares of a case, and the recipient's pages.

The recipient has no account: the link's token finds the share, the passcode (entered once per
browser session) opens it. They see who shared it and until when, the signed reports as the
patient reads them, the reports' PDFs and the study zip, and nothing else of the case. A link
that is unknown, expired, revoked, used up or locked is the same plain 404 page.
"""

from collections.abc import Callable
from functools import wraps
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.handlers.exception import response_for_exception
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from records import studyzip, viewer
from records.dicomweb import tokens
from records.models import Document
from reviewers.patient_views import report_section

from . import shares
from .access import get_case_for_patient
from .audit import client_ip, record_access, record_page, serve_file
from .models import AuditEvent, Share
from .notifications import absolute_url


class ShareForm(forms.Form):
    recipient_name = forms.CharField(label="Their name", max_length=200)
    recipient_email = forms.EmailField(label="Their e-mail (optional)", required=False)
    days = forms.IntegerField(
        label="Days the link works",
        min_value=shares.MIN_DAYS,
        max_value=shares.MAX_DAYS,
        initial=shares.DEFAULT_DAYS,
    )
    max_opens = forms.IntegerField(
        label="Times it can be opened",
        min_value=1,
        max_value=shares.MAX_OPENS_LIMIT,
        initial=shares.DEFAULT_MAX_OPENS,
    )


class DoctorForm(forms.Form):
    doctor_name = forms.CharField(label="Your doctor's name", max_length=200)
    doctor_email = forms.EmailField(label="Your doctor's e-mail")
    passcode_by_email = forms.TypedChoiceField(
        label="The passcode",
        choices=[
            ("", "I give my doctor the passcode myself (shown once, next)"),
            ("yes", "E-mail my doctor a one-time passcode when they open the link"),
        ],
        coerce=bool,
        empty_value=False,
        required=False,
        widget=forms.RadioSelect,
        initial="",
    )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply to your patient",
        max_length=shares.REPLY_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class PasscodeForm(forms.Form):
    passcode = forms.CharField(label="Passcode", max_length=12)


# --- The patient's side ------------------------------------------------------------------------


def _patient_case(request: HttpRequest, code: UUID):
    case = get_case_for_patient(request.user, code)
    if not shares.has_signed_report(case):
        raise Http404("There is no signed report to share yet.")
    return case


def _new_share_key(case) -> str:
    return f"share-new:{case.code}"


def _keep_for_one_display(request: HttpRequest, case, created: shares.NewShare) -> None:
    """Audit a new share, and keep its link and passcode for the one page that shows them."""
    record_access(
        request,
        action=AuditEvent.Action.ADD,
        target_type="share",
        target_code=created.share.code,
        case_code=case.code,
    )
    request.session[_new_share_key(case)] = {
        "share": str(created.share.code),
        "token": created.token,
        "passcode": created.passcode,
    }


def _shares_of(case):
    """The case's shares with their opens and the DICOMweb tokens of each that still open."""
    live = Prefetch("dicomweb_tokens", queryset=tokens.live_tokens(), to_attr="live_tokens")
    return case.shares.prefetch_related("opens", live)


@login_required
@require_http_methods(["GET", "POST"])
def share_list(request: HttpRequest, code: UUID) -> HttpResponse:
    """The case's shares with their opens, and the form for a new one.

    A new share's link and passcode wait in the session for the page the form redirects to,
    which shows them once and forgets them: reloading that page makes no second share.
    """
    case = _patient_case(request, code)
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = shares.create_share(case, by=request.user, **form.cleaned_data)
        except shares.ShareError as exc:
            form.add_error(None, str(exc))
        else:
            _keep_for_one_display(request, case, created)
            return redirect("shares:list", case.code)
    created = None
    kept = request.session.pop(_new_share_key(case), None) if request.method == "GET" else None
    if kept:
        found = case.shares.filter(code=kept["share"]).first()
        if found is not None:
            created = shares.NewShare(found, kept["token"], kept["passcode"])
    context = {
        "case": case,
        "form": form,
        "doctor_form": DoctorForm(),
        "created": created,
        # Built from SITE_URL, never from the request's Host header.
        "link": absolute_url(reverse("share-open", args=[created.token])) if created else "",
        "shares": _shares_of(case),
    }
    return render(request, "requests_app/shares.html", context)


@login_required
@require_POST
def share_send_to_doctor(request: HttpRequest, code: UUID) -> HttpResponse:
    """Share the report with the patient's doctor and e-mail them the link."""
    case = _patient_case(request, code)
    form = DoctorForm(request.POST)
    if form.is_valid():
        try:
            created = shares.send_to_doctor(case, by=request.user, **form.cleaned_data)
        except shares.ShareError as exc:
            form.add_error(None, str(exc))
        else:
            _keep_for_one_display(request, case, created)
            messages.success(request, f"We e-mailed the link to {created.share.recipient_name}.")
            return redirect("shares:list", case.code)
    context = {
        "case": case,
        "form": ShareForm(),
        "doctor_form": form,
        "created": None,
        "link": "",
        "shares": _shares_of(case),
    }
    return render(request, "requests_app/shares.html", context, status=400)


def _revoked(request: HttpRequest, case, ended: list[Share]) -> None:
    for share in ended:
        record_access(
            request,
            action=AuditEvent.Action.REVOKE,
            target_type="share",
            target_code=share.code,
            case_code=case.code,
        )


@login_required
@require_POST
def share_revoke(request: HttpRequest, code: UUID, share: UUID) -> HttpResponse:
    case = _patient_case(request, code)
    found = get_object_or_404(case.shares, code=share)
    if shares.revoke(found):
        _revoked(request, case, [found])
        messages.success(request, f"The link for {found.recipient_name} no longer opens.")
    return redirect("shares:list", case.code)


@login_required
@require_POST
def share_revoke_all(request: HttpRequest, code: UUID) -> HttpResponse:
    case = _patient_case(request, code)
    ended = shares.revoke_all(case)
    _revoked(request, case, ended)
    messages.success(request, "None of your links opens any more.")
    return redirect("shares:list", case.code)


# --- The recipient's side ----------------------------------------------------------------------


def session_key(share: Share) -> str:
    return f"share:{share.code}"


def recipient_page(view: Callable) -> Callable:
    """Nothing of a shared page is cached, and no link on it tells the next site where from
    (the passcode form, which must post with its origin, keeps its referrer on our site)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404 as exc:
            # The site's 404 page, answered here so that it carries the same headers.
            response = response_for_exception(request, exc)
        del response["Cache-Control"]
        add_never_cache_headers(response)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return wrapped


def _opened_share(request: HttpRequest, token: str) -> Share:
    """The live share this session entered the passcode of; a 404 otherwise."""
    share = shares.find_share(token)
    if share is None or not request.session.get(session_key(share)):
        raise Http404("No such page.")
    return share


@recipient_page
@require_http_methods(["GET", "POST"])
def share_open(request: HttpRequest, token: str) -> HttpResponse:
    share = shares.find_share(token)
    if share is None:
        raise Http404("No such page.")
    if request.session.get(session_key(share)):
        return _shared_report(request, share)
    if not shares.can_open(share):
        raise Http404("No such page.")
    form = PasscodeForm(request.POST or None)
    address = client_ip(request)
    if request.method == "POST" and shares.address_blocked(address):
        record_access(
            request,
            action=AuditEvent.Action.DENIED,
            target_type="share-passcode",
            target_code=share.code,
            case_code=share.case.code,
        )
        form = PasscodeForm({})
        form.is_valid()
        form.errors.clear()
        form.add_error(
            None, "Too many wrong passcodes were entered from your network. Try again later."
        )
        response = render(request, "requests_app/share_passcode.html", {"form": form}, status=429)
        response["Retry-After"] = str(shares.ADDRESS_WINDOW_SECONDS)
        response["Referrer-Policy"] = "same-origin"
        return response
    if request.method == "POST" and "send_code" in request.POST:
        if shares.email_code(share):
            messages.success(
                request, "We e-mailed you a passcode. It works once, for a few minutes."
            )
        else:
            messages.info(request, "A passcode was e-mailed a moment ago: wait a minute.")
        return redirect("share-open", token)
    if request.method == "POST" and form.is_valid():
        if shares.try_passcode(share, form.cleaned_data["passcode"]):
            request.session.cycle_key()
            request.session[session_key(share)] = True
            record_access(
                request,
                action=AuditEvent.Action.VIEW,
                target_type="share-open",
                target_code=share.code,
                case_code=share.case.code,
            )
            return redirect("share-open", token)
        shares.count_wrong_passcode(address)
        record_access(
            request,
            action=AuditEvent.Action.DENIED,
            target_type="share-passcode",
            target_code=share.code,
            case_code=share.case.code,
        )
        share.refresh_from_db()
        if not shares.can_open(share):
            raise Http404("No such page.")
        form.add_error("passcode", "That passcode is not right.")
    response = render(request, "requests_app/share_passcode.html", {"form": form, "share": share})
    # Under "no-referrer" browsers post this form with `Origin: null`, which the CSRF check
    # refuses; "same-origin" still tells no other site the link. The page links nowhere else.
    response["Referrer-Policy"] = "same-origin"
    return response


def _patient_name(share: Share) -> str:
    patient = share.case.patient
    return patient.get_full_name() or patient.first_name


def _original_reports(case):
    """The reports of the imaging that the patient sent with the request (not their other
    records: pathology, letters, proof of authority)."""
    return case.documents.filter(kind=Document.Kind.ORIGINAL_REPORT)


def _shared_report(request: HttpRequest, share: Share) -> HttpResponse:
    case = share.case
    report = report_section(case)
    record_page(
        request,
        page="shared-report",
        case=case,
        reports=[opinion.code for opinion in report["signed"]],
    )
    context = {
        "share": share,
        "patient_name": _patient_name(share),
        "op": report,
        "token": request.resolver_match.kwargs["token"],
        "has_study": bool(studyzip.studies(case)),
        "original_reports": _original_reports(case),
        "reply_form": ReplyForm() if shares.can_reply(share) else None,
    }
    response = render(request, "requests_app/share_report.html", context)
    # Its forms (the doctor's reply, a DICOMweb token) post with their origin, which "no-referrer"
    # would make `null` and the CSRF check refuse; "same-origin" tells no other site the link.
    response["Referrer-Policy"] = "same-origin"
    return response


@recipient_page
@require_GET
def share_report_pdf(request: HttpRequest, token: str, opinion: UUID) -> HttpResponse:
    share = _opened_share(request, token)
    case = share.case
    report = get_object_or_404(case.opinions.filter(signed_at__isnull=False), code=opinion)
    return serve_file(
        request,
        lambda: report.pdf.open("rb"),
        case=case,
        target_type="shared-opinion-report",
        target_codes=[report.code],
        content_type="application/pdf",
        filename=f"second-opinion-{case.short_code}.pdf",
    )


@recipient_page
@require_GET
def share_study_zip(request: HttpRequest, token: str) -> HttpResponse:
    share = _opened_share(request, token)
    case = share.case
    found = studyzip.studies(case)
    if not found:
        raise Http404("No such page.")
    stream = studyzip.build(case)
    return serve_file(
        request,
        lambda: studyzip.in_chunks(stream, request),
        case=case,
        target_type="shared-study",
        target_codes=[study.code for study in found],
        content_type="application/zip",
        filename=f"case-{case.short_code}-study.zip",
        length=len(stream),
    )


@recipient_page
@require_GET
def share_document(request: HttpRequest, token: str, document: UUID) -> HttpResponse:
    """One original report of the imaging, as the patient uploaded it."""
    share = _opened_share(request, token)
    case = share.case
    doc = get_object_or_404(_original_reports(case), code=document)
    return serve_file(
        request,
        lambda: doc.file.open("rb"),
        case=case,
        target_type="shared-document",
        target_codes=[doc.code],
        content_type="application/pdf",
        filename=f"original-report-{case.short_code}.pdf",
    )


@recipient_page
@require_GET
def share_viewer(request: HttpRequest, token: str) -> HttpResponse:
    """The study in the site's viewer; each opening is one audited viewer session, within
    which the viewer reads the images over DICOMweb with this session while the share lives."""
    share = _opened_share(request, token)
    case = share.case
    found = studyzip.studies(case)
    if not found:
        raise Http404("No such page.")
    for study in found:
        record_access(
            request,
            action=AuditEvent.Action.VIEW,
            target_type="shared-study-viewer",
            target_code=study.code,
            case_code=case.code,
        )
    request.session[tokens.share_viewer_key(share)] = True
    context = {
        "share": share,
        "token": token,
        "patient_name": _patient_name(share),
        "manifest": viewer.manifest(case),
    }
    response = render(request, "requests_app/share_viewer.html", context)
    viewer.preload(response, context["manifest"])
    return response


@recipient_page
@require_POST
def share_reply(request: HttpRequest, token: str) -> HttpResponse:
    """The doctor's one reply to the patient, shown on the case's messages."""
    share = _opened_share(request, token)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write your reply before sending it.")
        return redirect("share-open", token)
    try:
        message = shares.reply(share, form.cleaned_data["body"])
    except shares.ShareError as exc:
        messages.error(request, str(exc))
    else:
        record_access(
            request,
            action=AuditEvent.Action.ADD,
            target_type="share-reply",
            target_code=message.code,
            case_code=share.case.code,
        )
        messages.success(request, "Your reply was sent to your patient.")
    return redirect("share-open", token)
