from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from insurance.models import CaseInsurance
from insurance.status import insurance_status
from records import services as records_services
from records.forms import DocumentForm, ImagesForm
from records.models import Document
from records.views import previews_shown
from reviewers.models import Subspecialty
from reviewers.patient_views import report_section

from . import messaging, notifications, services, sla, wizard
from .access import get_case_for_patient
from .audit import record_page
from .forms import SubmitForm
from .models import Case
from .progress import next_steps_for


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "requests_app/landing.html")


def guide(request: HttpRequest) -> HttpResponse:
    return render(
        request, "requests_app/guide.html", {"subspecialties": Subspecialty.objects.all()}
    )


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
def case_detail(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    # Read before marking, so the page can still show which messages are new.
    case_messages = list(case.messages.select_related("author"))
    messaging.mark_read(case, by=request.user)
    notifications.mark_read(request.user, case=case)
    editable = case.is_editable_by_patient
    uploads = list(case.uploads.all())
    report = report_section(case)
    # The page's one audit record names the reports and image previews it shows.
    record_page(
        request,
        page="case-page",
        case=case,
        reports=[opinion.code for opinion in report["signed"]],
        series=previews_shown(uploads),
    )
    context = {
        "case": case,
        "case_messages": case_messages,
        "events": case.events.select_related("actor"),
        "documents": case.documents.all(),
        "uploads": uploads,
        "insurance": CaseInsurance.objects.filter(case=case).first(),
        "ins": insurance_status(case),
        "op": report,
        # Which steps still need answers matters only while the patient may change them.
        "missing": wizard.missing_for_submission(case) if editable else [],
        "recommendations": wizard.recommendations(case),
        "resume_step": wizard.first_incomplete(case) if editable else None,
        "next_steps": next_steps_for(case),
        "expected_report": sla.expected_report_by(case),
    }
    return render(request, "requests_app/case_detail.html", context)


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

    form = current.build_form(case, request.POST if request.method == "POST" else None)
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
            "has_report": Document.Kind.ORIGINAL_REPORT in kinds,
            "has_pathology": Document.Kind.PATHOLOGY_REPORT in kinds,
            "document_max_bytes": settings.DOCUMENT_MAX_BYTES,
            "upload_max_files": settings.UPLOAD_MAX_FILES,
            "documents": case.documents.all(),
            "uploads": uploads,
            "document_form": DocumentForm(),
            "images_form": ImagesForm(),
        }
    if step.slug == "authorization":
        return {
            "authorization": services.active_authorization(case),
            "preview": services.authorization_text(
                case,
                signed_name=case.patient_name or "the patient",
                relationship="",
                expires_on=None,
            ),
        }
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
            "authorization": services.active_authorization(case),
            "documents": case.documents.all(),
            "uploads": case.uploads.all(),
            "submit_form": SubmitForm(),
        }
    return {}


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
