"""Responses to a signed-in user are never kept by a browser's or a proxy's cache.

Everything a signed-in user sees is about a case (a patient's own, a reviewer's, a
coordinator's) or about their account: a shared computer's browser cache, or a proxy's, must
not hold it once they have logged out. Static files are served before this middleware runs
(WhiteNoise) and stay cacheable.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NeverStoreSignedInMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Replaces what a view set (a preview's "private, max-age=3600").
            del response["Cache-Control"]
            add_never_cache_headers(response)
        return response
