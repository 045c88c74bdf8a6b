"""JSON endpoints of the study upload: the five steps of the S3 multipart protocol, per file.

Every endpoint loads the case through the patient's scope first (404 for anyone else); URLs
carry only opaque codes, never a file or folder name.
"""

import json
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from requests_app.access import get_case_for_patient
from requests_app.audit import record_access
from requests_app.models import AuditEvent
from requests_app.services import CaseError

from . import multipart, services
from .models import Upload, UploadFile
from .request_body import RequestBody

REFUSALS = (services.RecordError, CaseError, multipart.MultipartError)
MAX_JSON_BYTES = 256 * 1024


def _refused(exc: Exception, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": str(exc)}, status=status)


def _json_body(request: HttpRequest) -> dict:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_JSON_BYTES:
        raise services.RecordError("That request is too large.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise services.RecordError("That request could not be read.") from exc
    if not isinstance(body, dict):
        raise services.RecordError("That request could not be read.")
    return body


def _content_length(request: HttpRequest) -> int | None:
    """The request's Content-Length as a count of bytes, or None if it is not one."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _upload(request: HttpRequest, code: UUID, upload: UUID) -> Upload:
    case = get_case_for_patient(request.user, code)
    return get_object_or_404(Upload.objects.select_related("case"), case=case, code=upload)


def _file(request: HttpRequest, code: UUID, upload: UUID, file: UUID) -> UploadFile:
    batch = _upload(request, code, upload)
    row = get_object_or_404(batch.files, code=file)
    row.upload = batch
    return row


@login_required
@require_POST
def upload_start(request: HttpRequest, code: UUID) -> JsonResponse:
    case = get_case_for_patient(request.user, code)
    try:
        upload = services.start_upload(case, by=request.user)
    except REFUSALS as exc:
        return _refused(exc)
    record_access(
        request,
        action=AuditEvent.Action.UPLOAD,
        target_type="upload",
        target_code=upload.code,
        case_code=case.code,
    )
    files_url = reverse("records:upload-files", args=[case.code, upload.code])
    finish_url = reverse("records:upload-finish", args=[case.code, upload.code])
    return JsonResponse(
        {"upload": str(upload.code), "files": files_url, "finish": finish_url}, status=201
    )


@login_required
@require_POST
def file_create(request: HttpRequest, code: UUID, upload: UUID) -> JsonResponse:
    batch = _upload(request, code, upload)
    try:
        body = _json_body(request)
        row = services.start_file(
            batch,
            relative_path=str(body.get("relativePath") or body.get("name") or ""),
            size=int(body.get("size") or 0),
        )
    except (ValueError, TypeError):
        return _refused(services.RecordError("That request could not be read."))
    except REFUSALS as exc:
        return _refused(exc)
    return JsonResponse({"key": str(row.code), "uploadId": row.multipart_id}, status=201)


@login_required
@require_GET
def file_parts(request: HttpRequest, code: UUID, upload: UUID, file: UUID) -> JsonResponse:
    row = _file(request, code, upload, file)
    try:
        parts = services.list_parts(row)
    except REFUSALS as exc:
        return _refused(exc, 409)
    return JsonResponse([p.to_uppy() for p in parts], safe=False)


@login_required
@require_GET
def file_part_sign(
    request: HttpRequest, code: UUID, upload: UUID, file: UUID, number: int
) -> JsonResponse:
    row = _file(request, code, upload, file)
    try:
        url = services.sign_part(row, number=number, user_id=request.user.pk)
    except REFUSALS as exc:
        return _refused(exc, 409)
    return JsonResponse({"url": request.build_absolute_uri(url)})


@login_required
@require_POST
def file_complete(request: HttpRequest, code: UUID, upload: UUID, file: UUID) -> JsonResponse:
    row = _file(request, code, upload, file)
    try:
        body = _json_body(request)
        parts = [
            multipart.Part(number=int(p["PartNumber"]), size=0, etag=str(p["ETag"]))
            for p in body.get("parts") or []
        ]
        services.complete_file(row, parts=parts)
    except (KeyError, ValueError, TypeError):
        return _refused(services.RecordError("That request could not be read."))
    except REFUSALS as exc:
        return _refused(exc, 409)
    return JsonResponse({"location": ""})


@login_required
@require_http_methods(["DELETE"])
def file_abort(request: HttpRequest, code: UUID, upload: UUID, file: UUID) -> JsonResponse:
    row = _file(request, code, upload, file)
    try:
        services.abort_file(row, by=request.user)
    except REFUSALS as exc:
        return _refused(exc, 409)
    record_access(
        request,
        action=AuditEvent.Action.DELETE,
        target_type="upload-file",
        target_code=row.code,
        case_code=row.upload.case.code,
    )
    return JsonResponse({})


@login_required
@require_POST
def upload_finish(request: HttpRequest, code: UUID, upload: UUID) -> JsonResponse:
    batch = _upload(request, code, upload)
    try:
        services.finish_upload(batch, by=request.user)
    except REFUSALS as exc:
        return _refused(exc, 409)
    return JsonResponse(
        {
            "status": batch.status,
            "files": batch.file_count,
            "detail": reverse("records:upload-detail", args=[batch.case.code, batch.code]),
        }
    )


@csrf_exempt  # the signed token, bound to the logged-in user, is what authorises the PUT
@require_http_methods(["PUT"])
def part_put(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claim = multipart.read_part_token(token)
    except multipart.MultipartError as exc:
        return _refused(exc, 403)
    if not request.user.is_authenticated or request.user.pk != claim["u"]:
        return _refused(multipart.MultipartError("Please log in again to go on uploading."), 403)
    row = get_object_or_404(
        UploadFile.objects.select_related("upload__case"),
        pk=claim["f"],
        multipart_id=claim["i"],
        upload__case__patient=request.user,
    )
    backend = multipart.backend()
    if not isinstance(backend, multipart.LocalBackend):
        return _refused(multipart.MultipartError("Parts go straight to storage."), 409)
    length = _content_length(request)
    if length is None:
        unreadable = "This part's length could not be read. The upload will retry."
        return _refused(multipart.MultipartError(unreadable), 400)
    try:
        if row.status != UploadFile.Status.RECEIVING or not row.upload.case.is_editable_by_patient:
            raise multipart.MultipartError("This file has already been received.")
        part = backend.write_part(
            row.multipart_id,
            claim["n"],
            RequestBody(request, length),
            length=length,
            max_bytes=settings.UPLOAD_PART_MAX_BYTES,
            file_size=row.size,
        )
    except multipart.MultipartError as exc:
        return _refused(exc, 409)
    response = HttpResponse(status=200)
    response["ETag"] = part.etag
    return response
