from allauth.account.adapter import DefaultAccountAdapter
from django.urls import reverse

from .roles import is_coordinator, is_reviewer


class AccountAdapter(DefaultAccountAdapter):
    """Sends each kind of user to their own home after logging in."""

    def get_login_redirect_url(self, request) -> str:
        if is_reviewer(request.user):
            return reverse("reviewers:portal")
        if is_coordinator(request.user):
            return reverse("admin:index")
        return super().get_login_redirect_url(request)
