import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from playwright.sync_api import Route

from secondopinion.second_factor import second_factor_required
from tests.conftest import TOTP_MARGIN_SECONDS, authenticator_app, totp_code
from tests.services import celery_worker

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # axe-core is injected as a script the page did not ask for; our CSP would rightly block it.
    return {**browser_context_args, "bypass_csp": True, "viewport": {"width": 1100, "height": 900}}


@pytest.fixture
def check_accessibility():
    """Run axe-core on the current page and fail on any serious or critical violation."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` in the project folder.")

    def check(page) -> None:
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{page.url}: " + "; ".join(serious)

    return check


@pytest.fixture
def page(page):
    page.set_default_timeout(10_000)
    page.route(re.compile(r"/accounts/login/(\?.*)?$"), second_factor_login(page))
    return page


def second_factor_login(page):
    """Reviewers and coordinators log in as they must: the password, then their app's code.

    The login form goes to the site as the browser posted it; when the site asks for the second
    factor, the code the person's authenticator app shows is sent with that page's form, and the
    browser goes where the site then sends it. The site takes each code once: logging in again
    within the same half-minute, the person types one of their recovery codes instead.
    """
    used: dict[int, int] = {}

    def handle(route: Route) -> None:
        try:
            log_in(route)
        finally:
            # Playwright calls this in a context of its own, where Django opens another
            # connection: left open, it would keep the test database from being dropped.
            connection.close()

    def log_in(route: Route) -> None:
        request = route.request
        email = parse_qs(request.post_data or "").get("login", [""])[0]
        user = get_user_model().objects.filter(email__iexact=email).first() if email else None
        if request.method != "POST" or user is None or not second_factor_required(user):
            route.fallback()
            return
        authenticator = authenticator_app(user)
        answer = route.fetch(max_redirects=0)
        location = urljoin(request.url, answer.headers.get("location", ""))
        if urlsplit(location).path != reverse("mfa_authenticate"):
            route.fulfill(response=answer)
            return
        form = page.context.request.get(location)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text()).group(1)
        period = mfa_settings.TOTP_PERIOD
        if used.get(authenticator.pk) != int(time.time() + TOTP_MARGIN_SECONDS) // period:
            code = totp_code(authenticator)  # waits for the next period if this one is ending
            used[authenticator.pk] = int(time.time()) // period
        else:
            code = RecoveryCodes.activate(user).get_unused_codes()[0]
        done = page.context.request.post(
            location, form={"csrfmiddlewaretoken": token, "code": code}, max_redirects=0
        )
        route.fulfill(status=done.status, headers={"Location": done.headers["location"]})

    return handle


__all__ = ["celery_worker"]
