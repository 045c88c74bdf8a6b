import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from playwright.sync_api import ConsoleMessage, Error, Page, Route

from secondopinion.second_factor import second_factor_required
from tests.conftest import TOTP_MARGIN_SECONDS, authenticator_app, totp_code
from tests.services import celery_worker

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Pages run under the Content-Security-Policy the site sends, as they do in production.
    return {**browser_context_args, "viewport": {"width": 1100, "height": 900}}


@pytest.fixture
def check_accessibility():
    """Run axe-core on the current page and fail on any serious or critical violation."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` in the project folder.")
    source = AXE.read_text()

    def check(page) -> None:
        # Evaluated through the DevTools protocol, which the page's CSP does not govern; a
        # <script> tag would be refused by `script-src 'self'`, as any injected script must be.
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(source)
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{page.url}: " + "; ".join(serious)

    return check


# Reports every Content-Security-Policy violation in every frame to the test, with where it
# happened. Init scripts are run by the browser's DevTools, so the policy does not block this.
REPORT_CSP_VIOLATIONS = """
window.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation({
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    page: document.location.href,
  });
}, true);
"""


@dataclass
class BrowserProblems:
    """Console errors, uncaught exceptions and CSP violations seen on any page of a test.

    A test that provokes an error on purpose (opening a page that does not exist, say) names
    the message it expects with `expect(...)`; anything else fails the test, and so does an
    expected message that never came.
    """

    seen: list[str] = field(default_factory=list)
    expected: list[re.Pattern] = field(default_factory=list)
    watched: list[Page] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        """Allow console errors matching this regular expression, and require at least one."""
        self.expected.append(re.compile(pattern))

    def watch(self, page: Page) -> None:
        if page in self.watched:
            return
        self.watched.append(page)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error} ({page.url})"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url") or ""
            self.seen.append(f"console error: {message.text} ({where})")

    def violation(self, source, report: dict) -> None:
        self.seen.append(
            f"CSP violation: {report['directive']} blocked {report['blocked'] or 'inline code'}"
            f" in {report['source'] or report['page']}:{report['line']}"
            + (f" ({report['sample']})" if report.get("sample") else "")
        )

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(e.search(p) for e in self.expected)]

    def missing(self) -> list[str]:
        return [e.pattern for e in self.expected if not any(e.search(p) for p in self.seen)]

    def settle(self) -> None:
        """Let reports still on their way from the browser arrive (one round trip suffices)."""
        open_pages = [page for page in self.watched if not page.is_closed()]
        # A page navigating or closing meanwhile has already sent what it had.
        with contextlib.suppress(Error):
            if open_pages:
                open_pages[0].evaluate("() => new Promise((done) => setTimeout(done, 50))")

    def verify(self) -> None:
        unexpected, missing = self.unexpected(), self.missing()
        assert not unexpected, "The browser reported problems:\n" + "\n".join(unexpected)
        assert not missing, f"Expected console errors that never came: {missing}"


@pytest.fixture
def browser_problems(context) -> BrowserProblems:
    problems = BrowserProblems()
    context.expose_binding("reportCspViolation", problems.violation)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    context.on("page", problems.watch)  # pages the test opens later, popups and new tabs
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A browser test that saw a console error or a CSP violation fails, as if it asserted it."""
    problems = item.funcargs.get("browser_problems")
    if problems is None:
        return (yield)
    try:
        result = yield
    finally:
        # Shown with the test's report whether it passed or not: they often explain a failure.
        problems.settle()
        if problems.seen:
            item.add_report_section("call", "browser", "\n".join(problems.seen))
    problems.verify()
    return result


@pytest.fixture
def page(page, browser_problems):
    browser_problems.watch(page)
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
