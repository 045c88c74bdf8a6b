"""The DICOMweb endpoints under /dicomweb/: bearer token in, one scope's studies out.

Every answer is for the token's scope alone: a study, series or instance outside it is a 404,
a missing, unknown, ended or revoked token a 401. Each search and each retrieve writes one audit
record, naming the reviewer (as the actor) or the share it came through; a refused read writes
one denied record. Nothing is kept in a browser's or proxy's cache.

The site's own viewer reads series metadata and frames with its session instead of a token,
within the scope of the viewer it opened (`tokens.session_scope`). Like the viewer's images
always were, those reads write no record each: the viewer page's record names the studies it
shows, and without it nothing is served.
"""

import logging
from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from requests_app.audit import record_access, serve_file
from requests_app.models import AuditEvent

from .. import viewer
from ..models import Series, Study
from . import media, retrieve, search
from .tokens import Scope, find_scope, session_scope

logger = logging.getLogger(__name__)
REALM = 'Bearer realm="dicomweb"'


def _plain(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _audited(scope: Scope) -> bool:
    """A token's reads write a record each; the viewer's session's were audited as it opened."""
    return scope.token is not None


def dicomweb(target_type: str, *, viewer: bool = False) -> Callable:
    """A DICOMweb view: GET only, the token's scope found (or, for what the `viewer` reads, the
    viewer session's; else 401), refusals audited, bad parameters a 400 and unoffered media
    types a 406, each with a short reason."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD"):
                response = _plain(405, "DICOMweb here is read-only.")
                response["Allow"] = "GET, HEAD"
                return response
            token = _bearer(request)
            if token or not viewer:
                scope = find_scope(token)
            else:
                scope = session_scope(request, kwargs.get("study"))
            if scope is None:
                response = _plain(401, "A valid bearer token is needed.")
                response["WWW-Authenticate"] = f'{REALM}, error="invalid_token"'
                return response
            if scope.reviewer is not None:
                request.user = scope.reviewer  # the audit's actor
            try:
                response = view(request, scope, **kwargs)
            except Http404:
                record_access(
                    request,
                    action=AuditEvent.Action.DENIED,
                    target_type=target_type,
                    target_code=kwargs.get("study", "")[:64],
                    case_code=scope.case.code,
                    share_code=scope.share_code,
                )
                return _plain(404, "Not found.")
            except (search.BadQuery, media.BadAccept, retrieve.BadFrames) as exc:
                return _plain(400, str(exc))
            except media.NotAcceptable:
                return _plain(406, "None of the accepted media types is offered here.")
            response["Cache-Control"] = "private, no-store"
            # Data for a client, never a page to render from our origin.
            response.setdefault("Content-Disposition", "attachment")
            return response

        return wrapped

    return decorate


def _ranges(request: HttpRequest) -> list[media.MediaRange]:
    return media.parse_accept(request.headers.get("Accept"))


# --- QIDO-RS -----------------------------------------------------------------------------------


def _study(scope: Scope, uid: str) -> list[Study]:
    found = list(Study.objects.filter(case=scope.case, study_instance_uid=uid))
    if not found:
        raise Http404
    return found


def _series(studies: list[Study], uid: str) -> list[Series]:
    found = list(Series.objects.filter(study__in=studies, series_instance_uid=uid))
    if not found:
        raise Http404
    return found


def _search(request: HttpRequest, scope: Scope, level: str, studies, series=None):
    media.single(_ranges(request), [media.DICOM_JSON, "application/json"])
    query = search.parse(request.META.get("QUERY_STRING", ""), level)
    studies = list(studies)
    rows = search.search(studies, level, query, series=series)
    record_access(
        request,
        action=AuditEvent.Action.VIEW,
        target_type=f"dicomweb-search-{level}",
        target_code=scope.case.code,
        case_code=scope.case.code,
        shown=[f"study:{s.code}" for s in studies],
        share_code=scope.share_code,
    )
    return HttpResponse(_json_array(rows), content_type=media.DICOM_JSON)


def _json_array(rows: list[dict]) -> bytes:
    import json

    return json.dumps(rows, separators=(",", ":")).encode()


def _scope_studies(scope: Scope):
    return Study.objects.filter(case=scope.case).prefetch_related("series__instances")


@dicomweb("dicomweb-search")
def search_studies(request, scope):
    return _search(request, scope, "study", _scope_studies(scope))


@dicomweb("dicomweb-search")
def search_series(request, scope):
    return _search(request, scope, "series", _scope_studies(scope))


@dicomweb("dicomweb-search")
def search_instances(request, scope):
    return _search(request, scope, "instance", _scope_studies(scope))


@dicomweb("dicomweb-search")
def study_series(request, scope, study):
    return _search(request, scope, "series", _study(scope, study))


@dicomweb("dicomweb-search")
def study_instances(request, scope, study):
    return _search(request, scope, "instance", _study(scope, study))


@dicomweb("dicomweb-search")
def series_instances(request, scope, study, series):
    studies = _study(scope, study)
    return _search(request, scope, "instance", studies, series=_series(studies, series))


# --- WADO-RS -----------------------------------------------------------------------------------


def _instances(scope: Scope, study: str, series: str | None = None, instance: str | None = None):
    found = retrieve.instances(scope.case, study, series, instance)
    if not found:
        raise Http404
    return found


def _retrieve(request, scope, target_type: str, found) -> HttpResponse:
    content_type, body, length = retrieve.instances_body(found, _ranges(request))
    study = found[0].series.study
    return serve_file(
        request,
        body,
        case=scope.case,
        target_type=target_type,
        target_codes=[study.code],
        content_type=content_type,
        length=length,
        share_code=scope.share_code,
    )


@dicomweb("dicomweb-study")
def retrieve_study(request, scope, study):
    return _retrieve(request, scope, "dicomweb-study", _instances(scope, study))


@dicomweb("dicomweb-series")
def retrieve_series(request, scope, study, series):
    return _retrieve(request, scope, "dicomweb-series", _instances(scope, study, series))


@dicomweb("dicomweb-instance")
def retrieve_instance(request, scope, study, series, instance):
    return _retrieve(
        request, scope, "dicomweb-instance", _instances(scope, study, series, instance)
    )


def _metadata(request, scope, target_type: str, found) -> HttpResponse:
    media.single(_ranges(request), [media.DICOM_JSON, "application/json"])
    if _audited(scope):
        record_access(
            request,
            action=AuditEvent.Action.VIEW,
            target_type=target_type,
            target_code=found[0].series.study.code,
            case_code=scope.case.code,
            shown=[f"instances:{len(found)}"],
            share_code=scope.share_code,
        )
    return StreamingHttpResponse(retrieve.metadata_body(found), content_type=media.DICOM_JSON)


@dicomweb("dicomweb-metadata")
def study_metadata(request, scope, study):
    return _metadata(request, scope, "dicomweb-study-metadata", _instances(scope, study))


@dicomweb("dicomweb-metadata", viewer=True)
def series_metadata(request, scope, study, series):
    return _metadata(request, scope, "dicomweb-series-metadata", _instances(scope, study, series))


@dicomweb("dicomweb-metadata", viewer=True)
def instance_metadata(request, scope, study, series, instance):
    return _metadata(
        request,
        scope,
        "dicomweb-instance-metadata",
        _instances(scope, study, series, instance),
    )


@dicomweb("dicomweb-frames", viewer=True)
def frames(request, scope, study, series, instance, frames):
    found = _instances(scope, study, series, instance)[0]
    numbers = retrieve.frame_numbers(frames, found.frames)
    if numbers is None:
        raise Http404
    part = media.multipart_part(_ranges(request), retrieve.frame_offers(found.transfer_syntax_uid))
    try:
        content_type, body = retrieve.frames_body(found, numbers, part)
    except FileNotFoundError:
        return _missing(scope)
    _record_frames(request, scope, found, numbers, AuditEvent.Action.DOWNLOAD, "dicomweb-frames")
    return StreamingHttpResponse(body, content_type=content_type)


@dicomweb("dicomweb-rendered", viewer=True)
def rendered(request, scope, study, series, instance, frames):
    """The first frame as a PNG at its default window (a rendered resource of PS3.18): what the
    viewer page draws before its script has started. Only the first frame is offered."""
    found = _instances(scope, study, series, instance)[0]
    if retrieve.frame_numbers(frames, found.frames) != [1]:
        raise Http404
    media.single(_ranges(request), ["image/png"])
    try:
        data = viewer.rendered_image(found.file)
    except FileNotFoundError:
        return _missing(scope)
    except viewer.Undecodable:
        return _plain(406, "This image cannot be rendered here; retrieve the instance.")
    _record_frames(request, scope, found, [1], AuditEvent.Action.VIEW, "dicomweb-rendered")
    return HttpResponse(data, content_type="image/png")


def _missing(scope: Scope) -> HttpResponse:
    logger.error("a stored image of case %s is missing", scope.case.code)
    return _plain(404, "This image is no longer available.")


def _record_frames(request, scope: Scope, found, numbers: list[int], action, target_type: str):
    """A token's read of frames of one instance, audited once; the viewer session's reads were
    audited as the viewer opened."""
    if _audited(scope):
        record_access(
            request,
            action=action,
            target_type=target_type,
            target_code=found.series.study.code,
            case_code=scope.case.code,
            shown=[f"frames:{','.join(map(str, numbers))}"],
            share_code=scope.share_code,
        )
