from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from requests_app.access import get_case_for_patient
from requests_app.audit import (
    previews_open,
    record_access,
    record_page,
    refusals_audited,
    serve_file,
)
from requests_app.models import AuditEvent
from requests_app.services import CaseError

from . import people, services
from .forms import DocumentForm, ImagesForm
from .models import Document, Series, Study, Upload


def _back_to_records(case_code: UUID, anchor: str) -> HttpResponse:
    return redirect(reverse("requests:case-step", args=[case_code, "records"]) + f"#{anchor}")


def _form_problem(form) -> str:
    """The form's errors as one sentence for a message (the page shows no form to mark)."""
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@login_required
@require_POST
def document_add(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    form = DocumentForm(request.POST, request.FILES)
    chosen = request.FILES.get("file")
    try:
        if not form.is_valid():
            raise services.RecordError(_form_problem(form))
        document = services.add_document(
            case, by=request.user, kind=form.cleaned_data["kind"], uploaded=chosen
        )
    except (services.RecordError, CaseError) as exc:
        not_added = f"“{chosen.name}” was not added. " if chosen else ""
        messages.error(request, f"{not_added}{exc}")
        return _back_to_records(case.code, "documents")
    record_access(
        request,
        action=AuditEvent.Action.UPLOAD,
        target_type="document",
        target_code=document.code,
        case_code=case.code,
    )
    messages.success(request, f"{document.get_kind_display()} added.")
    return _back_to_records(case.code, "documents")


@login_required
@require_GET
def document_download(request: HttpRequest, code: UUID, document: UUID) -> HttpResponse:
    with refusals_audited(request, target_type="document", target_code=document, case_code=code):
        case = get_case_for_patient(request.user, code)
    doc = get_object_or_404(case.documents, code=document)
    return serve_file(
        request,
        lambda: doc.file.open("rb"),
        case=case,
        target_type="document",
        target_codes=[doc.code],
        content_type="application/pdf",
        filename=doc.original_name,
    )


@login_required
@require_POST
def document_delete(request: HttpRequest, code: UUID, document: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    doc: Document = get_object_or_404(case.documents, code=document)
    try:
        services.delete_document(doc, by=request.user)
    except CaseError as exc:
        messages.error(request, str(exc))
    else:
        record_access(
            request,
            action=AuditEvent.Action.DELETE,
            target_type="document",
            target_code=doc.code,
            case_code=case.code,
        )
        messages.success(request, f"{doc.get_kind_display()} removed.")
    return _back_to_records(case.code, "documents")


@login_required
@require_POST
def images_add(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    form = ImagesForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _form_problem(form))
        return _back_to_records(case.code, "images")
    loose = form.cleaned_data["files"]
    folder = form.cleaned_data["folder"]
    paths = [f.name for f in loose] + form.cleaned_data["relative_paths"][: len(folder)]
    try:
        upload = services.store_upload(
            case, by=request.user, files=[*loose, *folder], relative_paths=paths
        )
    except (services.RecordError, CaseError) as exc:
        messages.error(request, f"Nothing was added. {exc}")
        return _back_to_records(case.code, "images")
    record_access(
        request,
        action=AuditEvent.Action.UPLOAD,
        target_type="upload",
        target_code=upload.code,
        case_code=case.code,
    )
    n = upload.file_count
    messages.success(request, f"{n} image file{'' if n == 1 else 's'} added.")
    return _back_to_records(case.code, "images")


@login_required
@require_POST
def upload_delete(request: HttpRequest, code: UUID, upload: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    batch: Upload = get_object_or_404(case.uploads, code=upload)
    try:
        services.delete_upload(batch, by=request.user)
    except CaseError as exc:
        messages.error(request, str(exc))
    else:
        record_access(
            request,
            action=AuditEvent.Action.DELETE,
            target_type="upload",
            target_code=batch.code,
            case_code=case.code,
        )
        messages.success(request, "Those images were removed.")
    return _back_to_records(case.code, "images")


@login_required
@require_POST
def study_person(request: HttpRequest, code: UUID, study: UUID) -> HttpResponse:
    """The patient's answer to whose images one study holds, on an upload that names several
    people: the person this request is for, them under another name, or not them (left out)."""
    case = get_case_for_patient(request.user, code)
    found: Study = get_object_or_404(Study.objects.select_related("upload"), case=case, code=study)
    answer = request.POST.get("person", "")
    try:
        people.answer_study(
            found, by=request.user, answer=answer, explanation=request.POST.get("explanation", "")
        )
    except (services.RecordError, CaseError) as exc:
        messages.error(request, str(exc))
        return _back_to_records(case.code, f"upload-{found.upload.code}")
    record_access(
        request,
        action=AuditEvent.Action.DELETE if answer == people.LEFT_OUT else AuditEvent.Action.CHANGE,
        target_type="study",
        target_code=found.code,
        case_code=case.code,
    )
    if answer == people.LEFT_OUT:
        messages.success(request, "That study was left out.")
    else:
        messages.success(request, "Thank you, your answer is saved.")
    return _back_to_records(case.code, f"upload-{found.upload.code}")


def previews_shown(uploads) -> list:
    """The codes of the series previews `records/_upload.html` shows for these uploads."""
    checked = [upload.pk for upload in uploads if upload.is_checked]
    return list(
        Series.objects.filter(study__upload__in=checked)
        .exclude(preview_key="")
        .values_list("code", flat=True)
    )


@login_required
@require_GET
def upload_detail(request: HttpRequest, code: UUID, upload: UUID) -> HttpResponse:
    """One upload and what its check found (the fragment the page polls while it runs)."""
    case = get_case_for_patient(request.user, code)
    batch = get_object_or_404(case.uploads, code=upload)
    record_page(request, page="upload", case=case, series=previews_shown([batch]))
    return render(request, "records/_upload.html", {"case": case, "upload": batch})


@login_required
@require_GET
def series_preview(request: HttpRequest, code: UUID, series: UUID) -> HttpResponse:
    """The preview image of one series, for the page that shows it (which audited it)."""
    with refusals_audited(
        request, target_type="series-preview", target_code=series, case_code=code
    ):
        case = get_case_for_patient(request.user, code)
    return audited_preview(request, case, series)


def audited_preview(request: HttpRequest, case, series: UUID) -> HttpResponse:
    """The preview image of one series of a case the caller may see, inside the session of the
    page that showed it: that page's audit record names it (`requests_app.audit.record_page`),
    and without such a page the image is not served at all.

    Shared by the patient's, the reviewer's and the coordinator's pages.
    """
    if not previews_open(request, case, series):
        raise Http404("Open the page that shows this preview.")
    found = get_object_or_404(Series.objects.exclude(preview_key=""), study__case=case, code=series)
    return serve_file(
        request,
        lambda: default_storage.open(found.preview_key, "rb"),
        case=case,
        target_type="series-preview",
        content_type="image/png",
        inline=True,
    )
