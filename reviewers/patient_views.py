"""What the patient does with a report: download it, ask follow-up questions, ask a third reader.

The report itself is shown on the case page: its view asks `report_section` what to show in
`reviewers/_case_report.html` and names the reports shown in the page's audit record; these
views are the actions around it.
"""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from requests_app.access import get_case_for_patient
from requests_app.audit import record_access, refusals_audited
from requests_app.models import AuditEvent, Case

from . import services
from .forms import QuestionForm
from .models import Opinion, ReviewerChoice
from .readers import latest_reading, third_opinion_pending


def report_section(case: Case) -> dict:
    """What the report section of the patient's case page shows (`signed` are the reports)."""
    signed = list(
        Opinion.objects.filter(case=case, signed_at__isnull=False)
        .select_related("reviewer")
        .prefetch_related("questions")
        .order_by("round", "signed_at")
    )
    latest = latest_reading(signed)
    return {
        "signed": signed,
        "latest": latest,
        "choice": ReviewerChoice.objects.filter(case=case).select_related("reviewer").first(),
        "third_requested": third_opinion_pending(case, latest),
        "can_request_third": services.can_request_third_opinion(case),
        "max_questions": services.MAX_FOLLOW_UP_QUESTIONS,
        "question_form": QuestionForm(),
    }


def _back(case_code: UUID, anchor: str = "opinion") -> HttpResponse:
    return redirect(reverse("requests:case-detail", args=[case_code]) + f"#{anchor}")


@login_required
@require_GET
def report_pdf(request: HttpRequest, code: UUID, opinion: UUID) -> HttpResponse:
    with refusals_audited(
        request, target_type="opinion-report", target_code=opinion, case_code=code
    ):
        case = get_case_for_patient(request.user, code)
    report = get_object_or_404(case.opinions.filter(signed_at__isnull=False), code=opinion)
    record_access(
        request,
        action=AuditEvent.Action.DOWNLOAD,
        target_type="opinion-report",
        target_code=report.code,
        case_code=case.code,
    )
    return FileResponse(
        report.pdf.open("rb"),
        as_attachment=True,
        filename=f"second-opinion-{case.short_code}.pdf"
        if report.round == 1
        else f"third-opinion-{case.short_code}.pdf",
        content_type="application/pdf",
    )


@login_required
@require_POST
def question_ask(request: HttpRequest, code: UUID, opinion: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    report = get_object_or_404(case.opinions.filter(signed_at__isnull=False), code=opinion)
    form = QuestionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write your question first (up to 2,000 characters).")
        return _back(case.code, "questions")
    try:
        services.ask_question(report, by=request.user, text=form.cleaned_data["question"])
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Your question was sent to the specialist.")
    return _back(case.code, "questions")


@login_required
@require_POST
def third_opinion(request: HttpRequest, code: UUID) -> HttpResponse:
    """A third opinion is asked for on the page that shows its cost first."""
    case = get_case_for_patient(request.user, code)
    return redirect("insurance:third-opinion", case.code)
