"""The reviewer portal: queues, claims, the blinded two-phase read, signing.

Every page loads the case through `get_case_for_reviewer` (404 for anything outside the
reviewer's queues and assignments); every read of a study, document or report is audited.
"""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from insurance import assignment as network
from records import crosscheck, studyzip, viewer
from records.dicomweb import tokens
from records.views import audited_preview
from requests_app import notifications
from requests_app.audit import record_access, record_page, refusals_audited, serve_file
from requests_app.models import AuditEvent, Case, Notification
from requests_app.roles import is_reviewer

from . import services
from .access import get_case_for_reviewer, reviewer_cases, waiting_in_order
from .forms import AnswerForm, BlindReadForm, ConsultationForm, GradeForm, SignForm
from .matching import (
    check,
    earlier_readers_by_case,
    facts_of_profiles,
    loaded_profiles,
    need_for_case,
    reasons_said,
    tomosynthesis_cases,
)
from .models import Opinion, ReviewerProfile
from .readers import signed_roles_by_case

# Cases per page of each queue and of the reviewer's own list: a busy queue stays one page.
PORTAL_PAGE_SIZE = 25


def _profile(request: HttpRequest) -> ReviewerProfile:
    if not is_reviewer(request.user):
        raise PermissionDenied("This page is for reviewing specialists.")
    return request.user.reviewer_profile


def _page(request: HttpRequest, cases, parameter: str) -> Page:
    return Paginator(cases, PORTAL_PAGE_SIZE).get_page(request.GET.get(parameter))


@login_required
@require_GET
def portal(request: HttpRequest) -> HttpResponse:
    profile = _profile(request)
    # The reviewer as matching reads them, their queues with it.
    loaded = loaded_profiles(ReviewerProfile.objects.filter(pk=profile.pk))
    me = facts_of_profiles(loaded)
    visible = reviewer_cases(request.user).select_related("queue")
    waiting = waiting_in_order(visible, profile).annotate(
        third_opinion=Exists(Opinion.objects.filter(case=OuterRef("pk"), signed_at__isnull=False))
    )
    queues = [
        (queue, _page(request, waiting.filter(queue=queue), f"page-{queue.slug}"), queue.slug)
        for queue in (loaded[0] if loaded else profile).subspecialties.all()
    ]
    listed = [case for _, page, _ in queues for case in page]
    earlier = earlier_readers_by_case(listed)
    signed = signed_roles_by_case(listed)
    tomosynthesis = tomosynthesis_cases(listed)
    networks = network.networks_for_matching(listed)
    for case in listed:
        need = need_for_case(
            case,
            earlier=earlier[case.pk],
            signed=signed[case.pk],
            tomosynthesis=case.pk in tomosynthesis,
            in_network_ids=networks[case.pk],
        )
        problems = check(need, me[0]) if me else ["is not an active reviewer"]
        case.problems = reasons_said("you", problems)
    mine = visible.filter(assigned_reviewer=profile).order_by("-status_changed_at", "-pk")
    news_kinds = [Notification.Kind.ASSIGNED, Notification.Kind.FOLLOW_UP]
    unread = request.user.notifications.filter(read_at__isnull=True)
    news = unread.filter(kind__in=news_kinds).select_related("case")
    counts = unread.aggregate(all=Count("pk"), news=Count("pk", filter=Q(kind__in=news_kinds)))
    context = {
        "profile": profile,
        "news": list(news[:PORTAL_PAGE_SIZE]),
        "news_count": counts["news"],
        "unread_notifications": counts["all"],  # the header's, in the same query
        "queues": queues,
        "my_cases": _page(request, mine, "page-mine"),
    }
    return render(request, "reviewers/portal.html", context)


def _workspace(
    request: HttpRequest,
    case: Case,
    *,
    read_form: BlindReadForm | None = None,
    grade_form: GradeForm | None = None,
    consult_form: ConsultationForm | None = None,
    sign_form: SignForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The case as this reviewer may see it now: a reader is blind until their own reading is
    filed; a consultant writes with the records open."""
    profile = request.user.reviewer_profile
    opinion = (
        services.open_opinion(case, profile) if case.assigned_reviewer_id == profile.pk else None
    )
    consulting = opinion is not None and opinion.is_consultation
    unblinded = opinion is not None and (not opinion.is_blind or consulting)
    writable = opinion is not None and not opinion.is_signed
    studies = list(case.studies.prefetch_related("series"))
    same_study = crosscheck.cases_with_the_same_studies(case, same_patient=False)
    context = {
        "reported_elsewhere": (
            Case.objects.filter(pk__in=same_study, opinions__signed_at__isnull=False)
            .distinct()
            .exists()
        ),
        "case": case,
        "opinion": opinion,
        "unblinded": unblinded,
        "studies": studies,
        "claim_problems": (
            reasons_said("you", network.reasons_not_eligible(case, profile))
            if case.status == Case.Status.QUEUED
            else ""
        ),
    }
    earlier = []
    if unblinded:
        context["documents"] = case.documents.all()
        earlier = list(
            case.opinions.filter(signed_at__isnull=False, round__lt=opinion.round).select_related(
                "reviewer"
            )
        )
        context["earlier"] = earlier
        if opinion.is_signed:
            context["questions"] = opinion.questions.all()
            context["answer_form"] = AnswerForm()
    # One record for the page: each earlier report whose impression it shows, and the image
    # previews (shown to the reviewer holding the case only).
    record_page(
        request,
        page="reviewer-case-page",
        case=case,
        reports=[report.code for report in earlier],
        series=[
            series.code
            for study in studies
            for series in study.series.all()
            if series.preview_key and opinion is not None
        ],
    )
    if writable and consulting:
        context["consult_form"] = consult_form or ConsultationForm(instance=opinion)
        if opinion.graded_at:
            context["sign_form"] = sign_form or SignForm()
    if writable and opinion.is_blind and not consulting:
        context["read_form"] = read_form or BlindReadForm(instance=opinion, case=case)
    if writable and unblinded and not consulting:
        context["grade_form"] = grade_form or GradeForm(
            instance=opinion,
            case=case,
            third_opinion=opinion.is_third_opinion,
            initial={} if opinion.original_birads else {"original_birads": case.birads},
        )
        if opinion.graded_at:
            context["sign_form"] = sign_form or SignForm()
    return render(request, "reviewers/case.html", context, status=status)


@login_required
@require_GET
def case_detail(request: HttpRequest, code: UUID) -> HttpResponse:
    case = _reviewer_case(request, code, target_type="reviewer-case-page", target_code=code)
    return _workspace(request, case)


@login_required
@require_POST
def case_seen(request: HttpRequest, code: UUID) -> HttpResponse:
    """The case page was shown: what was new here is seen (the page posts here once loaded,
    so that showing it writes nothing but its audit record)."""
    case = get_case_for_reviewer(request.user, code)
    notifications.mark_read(request.user, case=case)
    return HttpResponse(status=204)


@login_required
@require_POST
def case_claim(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_reviewer(request.user, code)
    try:
        network.claim_case(case, reviewer=request.user.reviewer_profile, by=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("reviewers:portal")
    messages.success(request, f"Case {case.short_code} is yours. Read the images first.")
    return redirect("reviewers:case-detail", case.code)


@login_required
@require_POST
def case_release(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_reviewer(request.user, code)
    try:
        services.release_case(case, reviewer=request.user.reviewer_profile, by=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("reviewers:case-detail", case.code)
    messages.success(request, f"Case {case.short_code} is back in the queue.")
    return redirect("reviewers:portal")


def _own_opinion(request: HttpRequest, case: Case) -> Opinion:
    profile = request.user.reviewer_profile
    opinion = services.open_opinion(case, profile)
    if opinion is None or case.assigned_reviewer_id != profile.pk:
        raise Http404("Not your reading.")
    return opinion


@login_required
@require_POST
def read_file(request: HttpRequest, code: UUID) -> HttpResponse:
    """Phase one: the blind reading."""
    case = get_case_for_reviewer(request.user, code)
    opinion = _own_opinion(request, case)
    form = BlindReadForm(request.POST, instance=opinion, case=case)
    if not form.is_valid():
        return _workspace(request, case, read_form=form, status=400)
    try:
        services.file_blind_read(
            opinion,
            by=request.user,
            findings=form.cleaned_data["findings"],
            impression=form.cleaned_data["impression"],
            birads=form.cleaned_data.get("birads", ""),
            breast_density=form.cleaned_data.get("breast_density", ""),
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Your reading is filed. The original report is now open.")
    return redirect("reviewers:case-detail", case.code)


@login_required
@require_POST
def read_grade(request: HttpRequest, code: UUID) -> HttpResponse:
    """Phase two: concordance with the original report, recommendations, patient summary."""
    case = get_case_for_reviewer(request.user, code)
    opinion = _own_opinion(request, case)
    form = GradeForm(
        request.POST, instance=opinion, case=case, third_opinion=opinion.is_third_opinion
    )
    if not form.is_valid():
        return _workspace(request, case, grade_form=form, status=400)
    data = form.cleaned_data
    try:
        services.grade_concordance(
            opinion,
            by=request.user,
            radpeer=data["radpeer"],
            comment=data["concordance_comment"],
            original_birads=data.get("original_birads", ""),
            tie_break=data.get("tie_break", ""),
            recommendation_change=data["recommendation_change"],
            recommendations=data["recommendations"],
            patient_summary=data["patient_summary"],
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Comparison saved. Check the report, then sign it.")
    return redirect(reverse("reviewers:case-detail", args=[case.code]) + "#sign")


@login_required
@require_POST
def consult_file(request: HttpRequest, code: UUID) -> HttpResponse:
    """A clinical specialist's consultation: assessment, recommendations, patient summary."""
    case = get_case_for_reviewer(request.user, code)
    opinion = _own_opinion(request, case)
    form = ConsultationForm(request.POST, instance=opinion)
    if not form.is_valid():
        return _workspace(request, case, consult_form=form, status=400)
    try:
        services.file_consultation(
            opinion,
            by=request.user,
            assessment=form.cleaned_data["findings"],
            recommendations=form.cleaned_data["recommendations"],
            patient_summary=form.cleaned_data["patient_summary"],
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Consultation saved. Check it, then sign it.")
    return redirect(reverse("reviewers:case-detail", args=[case.code]) + "#sign")


@login_required
@require_POST
def read_sign(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_reviewer(request.user, code)
    opinion = _own_opinion(request, case)
    form = SignForm(request.POST, request.FILES)
    if not form.is_valid():
        return _workspace(request, case, sign_form=form, status=400)
    try:
        services.sign_report(
            opinion,
            by=request.user,
            signed_name=form.cleaned_data["signed_name"],
            uploaded=form.cleaned_data["pdf"],
            urgent_finding=form.cleaned_data["urgent_finding"],
            urgent_finding_note=form.cleaned_data["urgent_finding_note"],
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Report signed. The patient can read it now.")
    return redirect("reviewers:case-detail", case.code)


def _reviewer_case(
    request: HttpRequest, code: UUID, *, target_type: str, target_code: object
) -> Case:
    """The case within the reviewer's scope; an attempt outside it is audited as refused."""
    with refusals_audited(
        request, target_type=target_type, target_code=target_code, case_code=code
    ):
        return get_case_for_reviewer(request.user, code)


def _holder_case(
    request: HttpRequest, code: UUID, *, target_type: str, target_code: object
) -> Case:
    """The case, for the reviewer who holds it: its images are theirs to read, nobody else's."""
    case = _reviewer_case(request, code, target_type=target_type, target_code=target_code)
    # Minimum necessary: a case merely waiting in a queue shows its question, not its images.
    if case.assigned_reviewer_id != request.user.reviewer_profile.pk:
        raise Http404("Claim the case to see its images.")
    return case


@login_required
@require_GET
def study_viewer(request: HttpRequest, code: UUID) -> HttpResponse:
    """The in-browser viewer; each opening is one audited viewer session."""
    case = _holder_case(request, code, target_type="study-viewer", target_code=code)
    found = studyzip.studies(case)
    if not found:
        raise Http404("This case has no images yet.")
    for study in found:
        record_access(
            request,
            action=AuditEvent.Action.VIEW,
            target_type="study-viewer",
            target_code=study.code,
            case_code=case.code,
        )
    # The viewer reads its images over DICOMweb with this session, which these records cover:
    # auditing every image would write thousands of rows per session.
    request.session[tokens.reviewer_viewer_key(case)] = True
    manifest = viewer.manifest(case)
    response = render(request, "reviewers/viewer.html", {"case": case, "manifest": manifest})
    viewer.preload(response, manifest)
    return response


@login_required
@require_GET
def study_zip(request: HttpRequest, code: UUID) -> HttpResponse:
    """The whole study as a zip, streamed; for the reviewer who holds the case."""
    case = _holder_case(request, code, target_type="study", target_code=code)
    stream = studyzip.build(case)
    found = studyzip.studies(case)
    if not found:
        raise Http404("This case has no images yet.")
    return serve_file(
        request,
        lambda: studyzip.in_chunks(stream, request),
        case=case,
        target_type="study",
        target_codes=[study.code for study in found],
        content_type="application/zip",
        filename=f"case-{case.short_code}-study.zip",
        length=len(stream),
    )


@login_required
@require_GET
def series_preview(request: HttpRequest, code: UUID, series: UUID) -> HttpResponse:
    case = _holder_case(request, code, target_type="series-preview", target_code=series)
    return audited_preview(request, case, series)


@login_required
@require_GET
def document_download(request: HttpRequest, code: UUID, document: UUID) -> HttpResponse:
    """The patient's records (the original report first of all), once the blind read is filed."""
    case = _reviewer_case(request, code, target_type="document", target_code=document)
    opinion = _own_opinion(request, case)
    if opinion.is_blind and not opinion.is_consultation:
        raise Http404("File your own reading first.")
    doc = get_object_or_404(case.documents, code=document)
    return serve_file(
        request,
        lambda: doc.file.open("rb"),
        case=case,
        target_type="document",
        target_codes=[doc.code],
        content_type="application/pdf",
        filename=f"{doc.kind.replace('_', '-')}-{case.short_code}.pdf",
    )


@login_required
@require_GET
def opinion_pdf(request: HttpRequest, code: UUID, opinion: UUID) -> HttpResponse:
    """A signed report: the reviewer's own, or an earlier one once their blind read is filed."""
    case = _reviewer_case(request, code, target_type="opinion-report", target_code=opinion)
    mine = _own_opinion(request, case)
    report = get_object_or_404(case.opinions.filter(signed_at__isnull=False), code=opinion)
    if report.pk != mine.pk and (mine.is_blind or report.round >= mine.round):
        raise Http404("Not yet.")
    return serve_file(
        request,
        lambda: report.pdf.open("rb"),
        case=case,
        target_type="opinion-report",
        target_codes=[report.code],
        content_type="application/pdf",
        filename=f"opinion-{case.short_code}-{report.round}.pdf",
    )


@login_required
@require_POST
def question_answer(request: HttpRequest, code: UUID, question: UUID) -> HttpResponse:
    case = get_case_for_reviewer(request.user, code)
    mine = _own_opinion(request, case)
    asked = get_object_or_404(mine.questions, code=question)
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write your answer first.")
    else:
        try:
            services.answer_question(asked, by=request.user, text=form.cleaned_data["answer"])
        except services.ReviewError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Answer sent to the patient.")
    return redirect("reviewers:case-detail", case.code)
