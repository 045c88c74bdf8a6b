from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from insurance import services as insurance_services
from insurance.models import CaseInsurance
from insurance.status import PAGE_RELATED, insurance_status, page_annotations
from records import services as records_services
from records.access_rules import right_of_access
from records.forms import DocumentForm, ImagesForm
from records.models import Document, Upload
from records.views import previews_shown
from reviewers.models import ReviewerChoice, Subspecialty
from reviewers.patient_views import report_section
from secondopinion.pdf import render_pdf

from . import messaging, notifications, services, sla, tasks, wizard
from .access import get_case_for_patient, latest_related
from .audit import record_access, record_page, refusals_audited, serve_file
from .forms import AuthorizationForm, SubmitForm
from .models import AuditEvent, Authorization, Case
from .progress import next_steps_for


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "requests_app/landing.html", right_of_access(timezone.localdate()))


def guide(request: HttpRequest) -> HttpResponse:
    context = {
        "subspecialties": Subspecialty.objects.all(),
        **right_of_access(timezone.localdate()),
    }
    return render(request, "requests_app/guide.html", context)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    cases = Case.objects.for_patient(request.user).select_related("requested_subspecialty")
    return render(request, "requests_app/case_list.html", {"cases": cases})


@login_required
@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            case = services.create_draft(patient=request.user)
        except services.CaseError as exc:
            messages.error(request, str(exc))
            return redirect("requests:case-list")
        return redirect("requests:case-step", case.code, wizard.STEPS[0].slug)
    return render(request, "requests_app/case_new.html")


@login_required
@require_GET
def case_detail(request: HttpRequest, code: UUID) -> HttpResponse:
    """The patient's case. A GET writes nothing but the page's audit record: what is new is
    marked read when the page tells us it was shown (`case_seen`), and a coverage check whose
    inputs changed is shown from the rules and stored by the worker."""
    case = get_case_for_patient(
        request.user,
        code,
        related=(*PAGE_RELATED, services.LATEST_AUTHORIZATION),
        annotate={
            **page_annotations(),
            services.LATEST_AUTHORIZATION: latest_related(
                "authorizations", Authorization, services.AUTHORIZATIONS_NEWEST_FIRST
            ),
            "unread_notifications": notifications.unread_count(request.user),
            **sla.hours_ahead_annotations(),
        },
    )
    case_messages = list(case.messages.select_related("author", "share"))
    editable = case.is_editable_by_patient
    uploads = records_services.uploads_for_page(case)
    documents = list(case.documents.all())
    choice = insurance_services.reviewer_choice(case)
    report = report_section(case, choice=choice)
    chosen_name = choice.reviewer.display_name if choice and choice.reviewer else ""
    with insurance_services.coverage_checked_once(read_only=True) as stale:
        ins = insurance_status(case)
        missing = wizard.missing_by_step(case, documents=documents, uploads=uploads)
    for pk in stale:
        transaction.on_commit(lambda pk=pk: tasks.refresh_coverage_task.delay(pk))
    # The page's one audit record names the reports and image previews it shows.
    record_page(
        request,
        page="case-page",
        case=case,
        reports=[opinion.code for opinion in report["signed"]],
        series=records_services.series_previews(uploads),
    )
    context = {
        "case": case,
        "case_messages": case_messages,
        "unread": any(m.from_care_team and m.read_at is None for m in case_messages),
        "events": case.events.all(),
        "unread_notifications": case.unread_notifications,
        "documents": documents,
        "uploads": uploads,
        "insurance": ins.insurance if ins else None,
        "ins": ins,
        "op": report,
        # Which steps still need answers matters only while the patient may change them.
        "missing": [item for _, items in missing for item in items] if editable else [],
        "recommendations": wizard.recommendations(case, documents=documents, uploads=uploads),
        "resume_step": next((step for step, items in missing if items), wizard.STEPS[-1])
        if editable
        else None,
        "chosen_name": chosen_name,
        "next_steps": next_steps_for(case, chosen_name=chosen_name),
        "authorization_state": services.authorization_state(case),
        **right_of_access(timezone.localdate()),
        "expected_report": sla.expected_report_by(case),
    }
    return render(request, "requests_app/case_detail.html", context)


@login_required
@require_POST
def case_seen(request: HttpRequest, code: UUID) -> HttpResponse:
    """The case page was shown: its messages from the care team and the notifications about
    the case are read now (the page posts here once it has loaded)."""
    case = get_case_for_patient(request.user, code)
    messaging.mark_read(case, by=request.user)
    notifications.mark_read(request.user, case=case)
    return HttpResponse(status=204)


def _chosen_name(case: Case) -> str:
    """The specialist the patient picked, or "" for the first available."""
    choice = ReviewerChoice.objects.filter(case=case).select_related("reviewer").first()
    return choice.reviewer.display_name if choice and choice.reviewer else ""


@login_required
@require_http_methods(["GET", "POST"])
def case_step(request: HttpRequest, code: UUID, step: str) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    current = wizard.BY_SLUG.get(step)
    if current is None:
        raise Http404("No such step.")
    if not case.is_editable_by_patient:
        messages.info(request, "This request has been submitted, so it can no longer be edited.")
        return redirect("requests:case-detail", case.code)

    posted = request.method == "POST"
    form = current.build_form(
        case, request.POST if posted else None, request.FILES if posted else None
    )
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if form is not None:
                current.save(form, case, request)
        except services.CaseError as exc:
            messages.error(request, str(exc))
            return redirect("requests:case-detail", case.code)
        following = wizard.next_step(current) or current
        return redirect("requests:case-step", case.code, following.slug)

    context = {
        "case": case,
        "step": current,
        "steps": wizard.STEPS,
        "step_number": wizard.STEPS.index(current) + 1,
        "previous": wizard.previous_step(current),
        "form": form,
    }
    context.update(_step_context(current, case, request))
    return render(request, current.template, context)


def _step_context(step: wizard.Step, case: Case, request: HttpRequest) -> dict:
    """What each page shows beyond its form."""
    if step.slug == "records":
        kinds = set(case.documents.values_list("kind", flat=True))
        uploads = list(case.uploads.all())
        record_page(request, page="records-step", case=case, series=previews_shown(uploads))
        return {
            "has_images": any(u.status != Upload.Status.RECEIVING for u in uploads),
            "has_report": Document.Kind.ORIGINAL_REPORT in kinds,
            "has_pathology": Document.Kind.PATHOLOGY_REPORT in kinds,
            "document_max_bytes": settings.DOCUMENT_MAX_BYTES,
            "upload_max_files": settings.UPLOAD_MAX_FILES,
            "documents": case.documents.all(),
            "uploads": uploads,
            "document_form": DocumentForm(),
            "images_form": ImagesForm(),
            **right_of_access(timezone.localdate()),
        }
    if step.slug == "authorization":
        return {**authorization_context(case), "next_step": wizard.next_step(step)}
    if step.slug == "insurance":
        return {"ins": insurance_status(case)}
    if isinstance(step, wizard.SpecialistStep):
        suggestion = step.suggestion(case)
        return {
            "suggestion": suggestion,
            "suggested": Subspecialty.objects.filter(slug=suggestion.slug).first(),
        }
    if step.slug == "review":
        return {
            "missing": wizard.missing_for_submission(case),
            "recommendations": wizard.recommendations(case),
            "insurance": CaseInsurance.objects.filter(case=case).first(),
            "ins": insurance_status(case),
            "auth": services.authorization_state(case),
            "documents": case.documents.all(),
            "uploads": case.uploads.all(),
            "submit_form": SubmitForm(),
            "chosen_name": _chosen_name(case),
        }
    return {}


def authorization_context(case: Case) -> dict:
    """What the pages about the HIPAA authorization show beyond their form."""
    state = services.authorization_state(case)
    return {
        "auth": state,
        "authorization": state.active,
        "preview": services.authorization_preview(case) if state.can_sign else None,
        "missing_steps": wizard.steps_asking_for(services.authorization_fields_missing(case)),
    }


@login_required
@require_http_methods(["GET", "POST"])
def authorization(request: HttpRequest, code: UUID) -> HttpResponse:
    """The signed authorization, its status and what revoking it means; signing a new one."""
    case = get_case_for_patient(request.user, code)
    posted = request.method == "POST"
    form = AuthorizationForm(
        request.POST if posted else None, request.FILES if posted else None, case=case
    )
    if posted and form.is_valid():
        try:
            wizard.AuthorizationStep.sign(form, case, request)
        except services.CaseError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Signed. A copy is below; you can download it any time.")
        return redirect("requests:authorization", case.code)
    context = {"case": case, "form": form, **authorization_context(case)}
    shown = context["auth"].latest
    if shown is not None:
        record_access(
            request,
            action=AuditEvent.Action.VIEW,
            target_type="authorization",
            target_code=shown.code,
            case_code=case.code,
        )
    status = 400 if form.is_bound else 200
    return render(request, "requests_app/authorization.html", context, status=status)


@login_required
@require_GET
def authorization_pdf(request: HttpRequest, code: UUID, authorization: UUID) -> HttpResponse:
    with refusals_audited(
        request, target_type="authorization", target_code=authorization, case_code=code
    ):
        case = get_case_for_patient(request.user, code)
    found = get_object_or_404(case.authorizations, code=authorization)
    return serve_file(
        request,
        render_pdf("requests_app/authorization_pdf.html", {"case": case, "authorization": found}),
        case=case,
        target_type="authorization",
        target_codes=[found.code],
        content_type="application/pdf",
        filename=f"hipaa-authorization-{case.short_code}.pdf",
    )


@login_required
@require_POST
def authorization_revoke(request: HttpRequest, code: UUID, authorization: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    found = get_object_or_404(case.authorizations, code=authorization)
    try:
        services.revoke_authorization(
            found, by=request.user, method=Authorization.Revocation.ONLINE
        )
    except services.CaseError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Your authorization is revoked.")
    return redirect("requests:authorization", case.code)


@login_required
@require_POST
def case_submit(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    form = SubmitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please tick the box to confirm before you submit.")
        return redirect("requests:case-step", case.code, "review")
    try:
        services.submit_case(case, by=request.user, missing=wizard.missing_for_submission(case))
    except services.CaseError as exc:
        messages.error(request, str(exc))
        return redirect("requests:case-step", case.code, "review")
    messages.success(request, "Your request has been submitted. We'll keep you posted here.")
    return redirect("requests:case-detail", case.code)


@login_required
@require_POST
def case_message(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    try:
        messaging.send_message(
            case, by=request.user, body=request.POST.get("body", ""), from_care_team=False
        )
    except services.CaseError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Your message was sent to the care team.")
    return redirect(reverse("requests:case-detail", args=[case.code]) + "#messages")


@login_required
@require_POST
def case_delete(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    try:
        records_services.delete_draft(case, by=request.user)
    except services.CaseError as exc:
        messages.error(request, str(exc))
        return redirect("requests:case-detail", case.code)
    messages.success(request, "The draft request and its files were deleted.")
    return redirect("requests:case-list")


NOTIFICATIONS_SHOWN = 100


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    shown = request.user.notifications.select_related("case")[:NOTIFICATIONS_SHOWN]
    return render(request, "requests_app/notifications.html", {"notifications": shown})


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    notifications.mark_read(request.user)
    return redirect("notifications")


@login_required
@require_POST
def notification_read(request: HttpRequest, code: UUID) -> HttpResponse:
    notification = get_object_or_404(request.user.notifications, code=code)
    notifications.mark_read(request.user, code=notification.code)
    return redirect("notifications")
