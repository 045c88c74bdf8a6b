"""What the patient does with a report: download it, ask follow-up questions, ask a third reader.

The report itself is shown on the case page: its view asks `report_section` what to show in
`reviewers/_case_report.html` and names the reports shown in the page's audit record; these
views are the actions around it.
"""

from uuid import UUID

from celery import current_app
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from records import export, studyzip
from requests_app.access import get_case_for_patient, with_rows
from requests_app.audit import refusals_audited, serve_file
from requests_app.models import Case

from . import services
from .forms import QuestionForm
from .models import Opinion, ReviewerChoice
from .readers import latest_reading, third_opinion_pending

_UNKNOWN = object()


def report_section(case: Case, *, choice: ReviewerChoice | object | None = _UNKNOWN) -> dict:
    """What the report section of the patient's case page shows (`signed` are the reports;
    `choice`: the patient's choice of reviewer, when the caller has it)."""
    signed = with_rows(
        Opinion.objects.filter(case=case, signed_at__isnull=False).select_related("reviewer"),
        "questions",
        order_by=("round", "signed_at", "pk"),
        rows_order_by=("asked_at", "pk"),
    )
    for opinion in signed:
        opinion.case = case  # the section's links name the case: no query each
    latest = latest_reading(signed)
    return {
        "signed": signed,
        "latest": latest,
        "choice": (
            choice
            if choice is not _UNKNOWN
            else ReviewerChoice.objects.filter(case=case).select_related("reviewer").first()
        ),
        "third_requested": third_opinion_pending(case, latest),
        "can_request_third": services.can_request_third_opinion(case, latest=latest),
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
    return serve_file(
        request,
        lambda: report.pdf.open("rb"),
        case=case,
        target_type="opinion-report",
        target_codes=[report.code],
        content_type="application/pdf",
        filename=f"second-opinion-{case.short_code}.pdf"
        if report.round == 1
        else f"third-opinion-{case.short_code}.pdf",
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


def _opinion_name(opinion: Opinion, case: Case) -> str:
    kind = "second-opinion" if opinion.round == 1 else "third-opinion"
    return f"REPORTS/{kind}-{case.short_code}-{opinion.signed_at:%Y%m%d}.pdf"


@login_required
@require_GET
def download_everything(request: HttpRequest, code: UUID) -> HttpResponse:
    """The patient's images (with a DICOMDIR), original reports and signed reports, one zip."""
    with refusals_audited(request, target_type="export", target_code=code, case_code=code):
        case = get_case_for_patient(request.user, code)
    studies = studyzip.studies(case)
    originals = export.original_reports(case)
    signed = list(
        case.opinions.filter(signed_at__isnull=False).exclude(pdf="").order_by("round", "signed_at")
    )
    if not (studies or originals or signed):
        raise Http404("There is nothing to download yet.")
    extras = [
        export.Extra(
            f"REPORTS/original-report-{n}.pdf"
            if len(originals) > 1
            else "REPORTS/original-report.pdf",
            lambda doc=doc: studyzip.stored_chunks(doc.file.name),
            doc.size,
        )
        for n, doc in enumerate(originals, 1)
    ]
    extras += [
        export.Extra(
            _opinion_name(opinion, case),
            lambda opinion=opinion: studyzip.stored_chunks(opinion.pdf.name),
            opinion.pdf.size,
        )
        for opinion in signed
    ]
    readme = render_to_string(
        "reviewers/everything_readme.txt",
        {"case": case, "studies": studies, "extras": extras, "has_images": bool(studies)},
    )
    stream = export.build(case, extras, readme)
    return serve_file(
        request,
        lambda: studyzip.in_chunks(stream, request),
        case=case,
        target_type="export",
        target_codes=[s.code for s in studies]
        + [doc.code for doc in originals]
        + [opinion.code for opinion in signed],
        content_type="application/zip",
        filename=f"case-{case.short_code}-everything.zip",
        length=len(stream),
    )


@login_required
@require_POST
def deidentified_make(request: HttpRequest, code: UUID) -> HttpResponse:
    """Ask a worker for a de-identified copy of the images (it reads every file)."""
    case = get_case_for_patient(request.user, code)
    if not studyzip.studies(case):
        raise Http404("This case has no images.")
    keep = request.POST.get("keep_burned_in") == "yes"
    transaction.on_commit(
        lambda: current_app.send_task(
            "records.tasks.deidentified_copy_task", args=[case.pk], kwargs={"keep_burned_in": keep}
        )
    )
    messages.success(request, "We are making the copy; we will tell you when it is ready.")
    return _back(case.code)


@login_required
@require_GET
def deidentified(request: HttpRequest, code: UUID, copy: UUID) -> HttpResponse:
    """A de-identified copy a worker made, for the case's patient."""
    with refusals_audited(request, target_type="deidentified", target_code=copy, case_code=code):
        case = get_case_for_patient(request.user, code)
    key = export.deidentified_key(case, str(copy))
    if not default_storage.exists(key):
        raise Http404("No such copy.")
    return serve_file(
        request,
        lambda: default_storage.open(key, "rb"),
        case=case,
        target_type="deidentified",
        target_codes=[copy],
        content_type="application/zip",
        filename=f"case-{case.short_code}-deidentified.zip",
        length=default_storage.size(key),
    )
