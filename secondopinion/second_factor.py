"""Reviewers and coordinators work with a second factor: patients' records are behind their logins.

A reviewer, coordinator or superuser without an authenticator (app or security key) is sent to
set one up before any other page. The admin, where coordinators reach every case, also asks that
the second factor was used in this session: a password alone, e.g. on the admin's own login
form, is not enough.
"""

from collections.abc import Callable

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from requests_app.roles import is_coordinator, is_reviewer

SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def second_factor_required(user) -> bool:
    """Whether this user may work only with a second factor."""
    return (
        is_reviewer(user) or is_coordinator(user) or (user.is_authenticated and user.is_superuser)
    )


def used_second_factor(request: HttpRequest) -> bool:
    """Whether the logged-in user proved a second factor in this session."""
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == "mfa" for record in records)


class SecondFactorMiddleware:
    """Sends reviewers and coordinators to set up a second factor, and to use it for the admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if second_factor_required(request.user) and not self._exempt(request.path):
            if not is_mfa_enabled(request.user, SECOND_FACTORS):
                return redirect("mfa_index")
            if request.path.startswith(reverse("admin:index")) and not used_second_factor(request):
                return redirect_to_login(request.get_full_path(), reverse("mfa_reauthenticate"))
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        """Setting up the second factor (it asks for the password again first), and leaving."""
        open_paths = (
            reverse("mfa_index"),
            reverse("account_reauthenticate"),
            reverse("account_logout"),
            settings.STATIC_URL,
        )
        return path.startswith(open_paths)
