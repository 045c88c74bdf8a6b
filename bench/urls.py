"""The product's URLs plus two baselines served by the same server.

``/bench/bare/``, the pages benchmark's: it goes through the same middleware, URL resolver and
template engine as every page, but renders a small template with no database query (no context
processors, no user): what any Django page costs before it does its own work.

``/bench/prebuilt/``, the download benchmark's: the zip file named by ``BENCH_PREBUILT_ZIP``
(built once before the server starts) served as a file, which gunicorn sends with sendfile.
"""

import os

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import path

from secondopinion.urls import urlpatterns as product_urlpatterns

ITEMS = [f"Line {n} of a plain page" for n in range(20)]


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(render_to_string("bench/bare.html", {"items": ITEMS}))


def prebuilt(request: HttpRequest) -> FileResponse:
    name = os.environ.get("BENCH_PREBUILT_ZIP")
    if not name:
        raise Http404("no prebuilt file in this run")
    return FileResponse(open(name, "rb"), as_attachment=True)


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("bench/prebuilt/", prebuilt, name="bench-prebuilt"),
    *product_urlpatterns,
]
