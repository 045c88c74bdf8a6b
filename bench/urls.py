"""The product's URLs plus ``/bench/bare/``: the baseline page of the pages benchmark.

The bare page goes through the same server, middleware, URL resolver and template engine as
every page, but renders a small template with no database query (no context processors, no
user): what any Django page costs before it does its own work.
"""

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import path

from secondopinion.urls import urlpatterns as product_urlpatterns

ITEMS = [f"Line {n} of a plain page" for n in range(20)]


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(render_to_string("bench/bare.html", {"items": ITEMS}))


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *product_urlpatterns]
