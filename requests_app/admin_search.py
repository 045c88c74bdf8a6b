"""Admin list searches that never travel in a URL.

A coordinator searches by a patient's name or e-mail address. Django's admin puts the search in
the list's query string (`?q=Johanna+Quintero`), and from there it lands in every access log
(ours, a proxy's, a load balancer's), in the browser's history and in the Referer of each page
opened from the results. Stripping `q` from our own access log would still leave the others,
so the search is not put in the URL at all: the search box posts it, it is kept in the
coordinator's session under a random token, and the list's URL (its pages, sort and filter
links, the "back to the list" of a change page) carries only `_s=<token>`. A token means
nothing to another session. A search typed into a URL by hand is moved out of it the same way.
"""

import secrets
from urllib.parse import urlencode

from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.http import HttpRequest, HttpResponseRedirect

STORED_SEARCH_VAR = "_s"
SESSION_KEY = "admin_searches"
KEPT_SEARCHES = 20  # the most recent ones; an older token shows the whole list again
_NOT_FILTERS = ("csrfmiddlewaretoken", SEARCH_VAR, STORED_SEARCH_VAR)


def stored_search(request: HttpRequest) -> str:
    """The search kept under the token in the request's URL, or ""."""
    token = request.GET.get(STORED_SEARCH_VAR, "")
    return request.session.get(SESSION_KEY, {}).get(token, "")


def _store(request: HttpRequest, text: str) -> str:
    token = secrets.token_urlsafe(12)
    searches = dict(request.session.get(SESSION_KEY, {}))
    searches[token] = text
    request.session[SESSION_KEY] = dict(list(searches.items())[-KEPT_SEARCHES:])
    return token


def redirect_to_stored(request: HttpRequest, data) -> HttpResponseRedirect:
    """The list again, with the other parameters of `data` and the search as a token."""
    params = [(key, value) for key, value in data.lists() if key not in _NOT_FILTERS]
    flat = [(key, value) for key, values in params for value in values]
    text = data.get(SEARCH_VAR, "")
    if text.strip():
        flat.append((STORED_SEARCH_VAR, _store(request, text)))
    return HttpResponseRedirect(request.path + (f"?{urlencode(flat)}" if flat else ""))


class PrivateSearchChangeList(ChangeList):
    """A list whose search comes from the session, through the token in its URL."""

    private_search = True  # the search box posts (admin/search_form.html)

    def get_filters_params(self, params=None):
        lookup = super().get_filters_params(params)
        lookup.pop(STORED_SEARCH_VAR, None)  # not a field to filter on
        return lookup

    def get_queryset(self, request, exclude_parameters=None):
        self.query = stored_search(request)
        return super().get_queryset(request, exclude_parameters)


class PrivateSearchMixin:
    """For a ModelAdmin: its list's search is posted and kept out of every URL."""

    def get_changelist(self, request, **kwargs):
        return PrivateSearchChangeList

    def changelist_view(self, request, extra_context=None):
        posted_search = (
            request.method == "POST"
            and SEARCH_VAR in request.POST
            and "action" not in request.POST
            and "_save" not in request.POST
        )
        if posted_search:
            return redirect_to_stored(request, request.POST)
        if SEARCH_VAR in request.GET:
            return redirect_to_stored(request, request.GET)
        return super().changelist_view(request, extra_context)
