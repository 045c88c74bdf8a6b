"""Sessions for the benchmarks' users, made without the login form.

Reviewers and coordinators work only with a second factor: they get an authenticator app and the
session records its use, as a real login with the app's code does.
"""

from __future__ import annotations


def logged_in_client(user):
    from allauth.mfa.base.internal.flows import post_authentication
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.http import HttpRequest
    from django.test import Client

    from secondopinion.second_factor import second_factor_required

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    if second_factor_required(user):
        app = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        app = app or TOTP.activate(user, generate_totp_secret()).instance
        request = HttpRequest()
        request.session = client.session
        post_authentication(request, app)
        request.session.save()
    return client


def session_cookie(user) -> str:
    """The Cookie header of a logged-in session of `user`."""
    from django.conf import settings

    client = logged_in_client(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
