"""How allauth works here: where each role lands, what the lockout counts, and account e-mails.

Two rules hold for every account e-mail. Its links and its site name come from SITE_URL, never
from the Host header of the request that asked for it (a client chooses that header, port
included). And it leaves only once the response is sent, so the time a sign-up or a password
reset takes says nothing about which e-mail went out, or to whom.
"""

import logging
import math
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.account.models import EmailAddress
from allauth.core import context as allauth_context
from allauth.core.internal import ratelimit
from django import forms
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.http import HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse

from .roles import is_coordinator, is_reviewer

logger = logging.getLogger(__name__)

# Where a request keeps the account e-mails it rendered until its response is sent.
_OUTBOX = "_account_emails"


@dataclass(frozen=True)
class ConfiguredSite:
    """What allauth's e-mail templates call `current_site`, taken from SITE_URL."""

    name: str
    domain: str


def configured_site() -> ConfiguredSite:
    return ConfiguredSite(name="SecondOpinion", domain=urlsplit(settings.SITE_URL).netloc)


def user_display(user) -> str:
    """How the site names a person to them: their first name, else their e-mail address; never
    the username allauth made up from the address."""
    return (user.first_name or "").strip() or user.email


def on_site(url: str) -> str:
    """An absolute link re-based on SITE_URL: the path and query stay, the host is ours."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return settings.SITE_URL.rstrip("/") + parts.path + query


def normalized_email(typed: str) -> str:
    """The address as the lockout counts it: the account's own when it has one."""
    address = typed.strip().lower()
    known = (
        EmailAddress.objects.filter(email__iexact=address)
        .values_list("user__email", flat=True)
        .first()
    )
    return (known or address).strip().lower()


class AccountAdapter(DefaultAccountAdapter):
    """Where each kind of user lands, what the lockout counts, how account e-mails are sent."""

    def get_login_redirect_url(self, request) -> str:
        if is_reviewer(request.user):
            return reverse("reviewers:portal")
        if is_coordinator(request.user):
            return reverse("admin:index")
        return super().get_login_redirect_url(request)

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth's own key starts with the request's site, which without the sites framework
        # is the Host header: a new port meant a fresh count. The account alone is the key
        # (the per-address limit counts the client's address separately).
        typed = credentials.get("email") or credentials.get("username") or ""
        return f"login:{normalized_email(typed)}"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = allauth_context.request
        # allauth's flows build their links from the request before they get here; every mail
        # passes this point, so the links are put on SITE_URL here, whichever flow made them.
        values = {
            name: on_site(value) if _is_link(value) else value for name, value in context.items()
        }
        message = self.render_mail(
            template_prefix,
            email,
            {"request": request, "email": email, **values, "current_site": configured_site()},
        )
        outbox = getattr(request, _OUTBOX, None)
        if outbox is None:  # no request being answered (a shell, a command): send now
            message.send()
        else:
            outbox.append(message)


def _is_link(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


class SignupForm(AllauthSignupForm):
    # Optional: what the site calls the person (allauth's adapter saves it on the user).
    first_name = forms.CharField(
        label="Your first name",
        max_length=150,
        required=False,
        help_text="Optional: what we call you when you log in.",
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(["first_name", "email"])

    def try_save(self, request):
        if self.account_already_exists:
            # A new account costs a password hash; an address that already has one must cost
            # the same, or the time the answer takes tells the two apart.
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)


def emails_after_response(get_response):
    """Middleware: the account e-mails a request rendered are sent once its response is."""

    def middleware(request):
        outbox: list[EmailMessage] = []
        setattr(request, _OUTBOX, outbox)
        response = get_response(request)
        if outbox:
            close = response.close

            def send_then_close() -> None:
                # The server calls close() after the last byte of the response went out.
                try:
                    _send(outbox)
                finally:
                    close()

            response.close = send_then_close
        return response

    return middleware


def _send(outbox: list[EmailMessage]) -> None:
    while outbox:
        message = outbox.pop(0)
        try:
            message.send()
        except Exception as exc:
            # The page has been answered; the person asks again. Never the address: no PHI.
            logger.error("account e-mail not sent: %s", type(exc).__name__)


# The allauth action each rate-limited page spends, to tell how long its limit still holds.
_LIMITED_ACTIONS = {
    "account_login": "login",
    "account_signup": "signup",
    "account_reset_password": "reset_password",
    "account_reset_password_from_key": "reset_password_from_key",
}


def retry_after(request) -> int:
    """Seconds until the limit this request ran into lets the client through again.

    Read from allauth's own counters for the client's address; a limit counted per account
    (whose key this request does not reveal) is taken at its full period.
    """
    match = getattr(request, "resolver_match", None)
    action = _LIMITED_ACTIONS.get(match.view_name if match else "")
    if action is None:
        return 60
    rates = ratelimit.get_rates(app="allauth.account", action=action)
    now = time.time()
    waits = []
    for rate in rates:
        if rate.per != "ip":
            continue
        key = ratelimit.get_cache_key(request, app="allauth.account", action=action, rate=rate)
        history = cache.get(key, [])
        if len(history) >= rate.amount:
            waits.append(history[-1] + rate.duration - now)  # when the oldest hit expires
    if not waits:
        waits = [rate.duration for rate in rates] or [60]
    return max(1, math.ceil(max(waits)))


def too_many_requests(request) -> HttpResponse:
    """The 429 page (allauth's rate limits answer with it): what happened and when to retry."""
    seconds = retry_after(request)
    if seconds < 60:
        wait = f"{seconds} second{pluralize(seconds)}"
    else:
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minute{pluralize(minutes)}"
    response = render(request, "429.html", {"wait": wait}, status=429)
    response["Retry-After"] = str(seconds)
    return response
