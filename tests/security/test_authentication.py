"""Logging in and staying logged in: second factor, lockout, sessions, production settings, CSP.

Here `client.force_login` is a password login only; the second factor is used through the real
login and confirmation forms, with codes computed from the stored secret.
"""

import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from allauth.account.adapter import get_adapter
from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from records import services as records_services
from records.viewer import manifest as viewer_manifest
from requests_app.accounts import emails_after_response
from reviewers import services as reviewer_services
from tests.conftest import (
    PASSWORD,
    authenticator_app,
    make_case,
    make_user,
    pdf_upload,
    totp_code,
)
from tests.records.dicomweb_setup import viewer_frame
from tests.reviewers.conftest import make_reviewer, validated_case

ROOT = Path(__file__).resolve().parents[2]
WRONG = "not-the-password-9"


@pytest.fixture(autouse=True)
def force_login_uses_second_factor():
    """Overrides tests/conftest.py's: `force_login` logs in with the password only."""


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def log_in_with_totp(client: Client, user) -> None:
    """The whole login of someone with an authenticator app: password, then the app's code."""
    authenticator = authenticator_app(user)
    response = log_in(client, user.email)
    assert response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(authenticator)})
    assert response.status_code == 302, response.content


def login_errors(response) -> list[str]:
    return response.context["form"].non_field_errors()


def is_logged_in(client: Client) -> bool:
    return client.get(reverse("requests:case-list")).status_code == 200


# Second factor ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "home"),
    [("rita", "reviewers:portal"), ("sam", "admin:index"), ("sam", "requests:case-list")],
)
def test_reviewer_or_coordinator_without_a_second_factor_is_sent_to_set_one_up(
    client, db, request, persona, home
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse(home))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_index")
    setup = client.get(reverse("mfa_index"))
    assert setup.status_code == 200
    assert "need a second factor" in setup.content.decode()


def test_setup_pages_and_logging_out_stay_open_to_them(client, rita):
    client.force_login(rita)
    assert client.get(reverse("mfa_activate_totp")).status_code == 302  # asks for the password
    assert client.get(reverse("account_reauthenticate")).status_code == 200
    assert client.get(settings.STATIC_URL + "css/app.css").status_code == 200
    client.post(reverse("account_logout"))
    assert not is_logged_in(client)


def test_a_reviewer_sets_up_an_authenticator_app_and_gets_to_work(client, rita):
    log_in(client, rita.email)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(
        reverse("mfa_activate_totp"), {"code": totp_code_for_secret(rita, secret)}
    )
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    assert Authenticator.objects.filter(user=rita, type=Authenticator.Type.RECOVERY_CODES).exists()
    assert client.get(reverse("reviewers:portal")).status_code == 200


def totp_code_for_secret(user, secret: str) -> str:
    """The code for a secret not stored yet (the one the activation page shows)."""
    unsaved = Authenticator(user=user, type=Authenticator.Type.TOTP, data={"secret": secret})
    return totp_code(unsaved)


def test_a_patient_needs_no_second_factor_but_may_add_one(client, alice):
    client.force_login(alice)
    assert client.get(reverse("requests:case-list")).status_code == 200
    setup = client.get(reverse("mfa_index"))
    assert setup.status_code == 200
    assert "need a second factor" not in setup.content.decode()


def test_admin_refuses_a_coordinator_who_logged_in_with_the_password_only(client, sam):
    authenticator_app(sam)
    client.force_login(sam)  # e.g. through the admin's own login form, before it was closed
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))
    assert client.get(reverse("requests:case-list")).status_code == 200  # the rest stays open


def test_admin_opens_after_a_totp_login(client, sam):
    log_in_with_totp(client, sam)
    assert client.get(reverse("admin:index")).status_code == 200


def test_admin_opens_after_confirming_with_the_app_in_the_session(client, sam):
    authenticator = authenticator_app(sam)
    client.force_login(sam)
    client.post(reverse("mfa_reauthenticate"), {"code": totp_code(authenticator)})
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_wrong_code_does_not_log_in(client, sam):
    authenticator = authenticator_app(sam)
    log_in(client, sam.email)
    right = totp_code(authenticator)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    response = client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
    assert not is_logged_in(client)


def test_the_admin_login_form_is_the_sites_login(client, db):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# Lockout and enumeration -----------------------------------------------------------------------


def test_an_account_locks_after_repeated_failures_then_opens_again(client, alice):
    for _ in range(settings.LOGIN_LOCKOUT_ATTEMPTS):
        assert login_errors(log_in(client, alice.email, WRONG))
    locked = log_in(client, alice.email)  # the right password, too late
    assert "Too many failed login attempts" in " ".join(login_errors(locked))
    assert not is_logged_in(client)

    later = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    with time_machine.travel(later, tick=False):
        assert log_in(client, alice.email)["Location"] == reverse("requests:case-list")


def test_wrong_codes_lock_the_second_factor_too(client, sam):
    authenticator_app(sam)
    log_in(client, sam.email)
    for _ in range(settings.LOGIN_LOCKOUT_ATTEMPTS):
        client.post(reverse("mfa_authenticate"), {"code": "000000"})
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(authenticator_app(sam))})
    assert "Too many failed login attempts" in response.content.decode()
    assert not is_logged_in(client)


def test_unknown_email_and_wrong_password_get_the_same_answer(client, alice):
    unknown = log_in(client, "nobody@example.com", WRONG)
    wrong = log_in(client, alice.email, WRONG)
    assert unknown.status_code == wrong.status_code == 200
    assert login_errors(unknown) == login_errors(wrong)
    assert login_errors(wrong)


def test_a_locked_unknown_email_gets_the_same_answer_as_a_locked_account(alice):
    answers = []
    for email in (alice.email, "nobody@example.com"):
        client = Client()
        for _ in range(settings.LOGIN_LOCKOUT_ATTEMPTS):
            log_in(client, email, WRONG)
        answers.append(login_errors(log_in(client, email, WRONG)))
    assert answers[0] == answers[1]
    assert "Too many failed login attempts" in " ".join(answers[0])


def test_the_lockout_holds_whatever_port_the_host_header_names(client, alice):
    for port in range(8300, 8300 + settings.LOGIN_LOCKOUT_ATTEMPTS):
        client.post(
            reverse("account_login"),
            {"login": alice.email, "password": WRONG},
            HTTP_HOST=f"127.0.0.1:{port}",
        )
    locked = client.post(
        reverse("account_login"),
        {"login": alice.email, "password": PASSWORD},
        HTTP_HOST="127.0.0.1:9999",
    )
    assert "Too many failed login attempts" in " ".join(login_errors(locked))
    assert not is_logged_in(client)


def test_the_lockout_counts_every_spelling_of_the_address_as_one_account(client, alice):
    spellings = [
        "ALICE@example.com",
        " alice@EXAMPLE.com",
        "Alice@Example.Com",
        "alice@example.com ",
    ]
    for spelling in spellings[: settings.LOGIN_LOCKOUT_ATTEMPTS]:
        log_in(client, spelling, WRONG)
    for _ in range(settings.LOGIN_LOCKOUT_ATTEMPTS - len(spellings)):
        log_in(client, alice.email, WRONG)
    locked = log_in(client, alice.email)
    assert "Too many failed login attempts" in " ".join(login_errors(locked))


HOSTILE_HOST = "127.0.0.1:31337"


def _account_mails(client, alice, mailoutbox) -> dict[str, str]:
    """Every e-mail the account pages send, asked for with a Host header the client chose."""
    asks = {
        "confirm a new address": (
            "account_signup",
            {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
        ),
        "address already taken": (
            "account_signup",
            {"email": alice.email, "password1": PASSWORD, "password2": PASSWORD},
        ),
        "reset a password": ("account_reset_password", {"email": alice.email}),
        "reset for an unknown address": ("account_reset_password", {"email": "who@example.com"}),
    }
    mails = {}
    for name, (url, data) in asks.items():
        before = len(mailoutbox)
        client.post(reverse(url), data, HTTP_HOST=HOSTILE_HOST)
        assert len(mailoutbox) == before + 1, name
        message = mailoutbox[-1]
        mails[name] = "\n".join([message.subject, message.body])
    return mails


def test_email_links_are_built_from_the_site_url_never_the_host_header(
    client, alice, mailoutbox, settings
):
    settings.SITE_URL = "https://care.example.org"
    for name, text in _account_mails(client, alice, mailoutbox).items():
        assert "31337" not in text, name
        links = re.findall(r"https?://\S+", text)
        assert links, name
        assert all(link.startswith("https://care.example.org/") for link in links), (name, links)


def test_the_password_reset_link_from_a_hostile_host_still_works(client, alice, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": alice.email}, HTTP_HOST=HOSTILE_HOST)
    link = re.search(r"https?://\S+", mailoutbox[0].body).group(0)
    assert link.startswith(settings.SITE_URL)
    page = client.get(link.removeprefix(settings.SITE_URL), follow=True)
    new = "a-new-long-password-5"
    client.post(page.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert Client().login(username=alice.username, password=new)


class CountingHasher(PBKDF2PasswordHasher):
    """Django's default hasher, counting how many passwords it hashes."""

    hashed = 0

    def encode(self, password, salt, iterations=None):
        CountingHasher.hashed += 1
        return super().encode(password, salt, iterations)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.hashed = 0
    return CountingHasher


def test_signing_up_costs_the_same_whether_or_not_the_address_has_an_account(
    client, alice, mailoutbox, counting_hasher
):
    work = {}
    for email in ("new@example.com", alice.email):
        hashed, mailed = counting_hasher.hashed, len(mailoutbox)
        client.post(
            reverse("account_signup"),
            {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        )
        work[email] = (counting_hasher.hashed - hashed, len(mailoutbox) - mailed)
    assert work["new@example.com"] == work[alice.email] == (1, 1)


def test_account_emails_leave_only_once_the_response_is_sent(rf, alice, mailoutbox):
    """The mail server's pace must not show in the answer's timing: sending waits for the end."""
    request = rf.post(reverse("account_reset_password"))
    request.user = AnonymousUser()

    def view(request):
        with allauth_context.request_context(request):
            get_adapter(request).send_mail(
                "account/email/password_reset", alice.email, {"user": alice}
            )
        return HttpResponse("sent")

    response = emails_after_response(view)(request)
    assert mailoutbox == []
    response.close()
    assert [m.to for m in mailoutbox] == [[alice.email]]


def test_signing_up_with_a_taken_email_looks_like_a_new_sign_up(client, alice, mailoutbox):
    answers = [
        client.post(
            reverse("account_signup"),
            {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        )
        for email in (alice.email, "new@example.com")
    ]
    assert answers[0]["Location"] == answers[1]["Location"]
    assert {m.to[0] for m in mailoutbox} == {alice.email, "new@example.com"}


# Rate limits ------------------------------------------------------------------------------------

CLINIC = "203.0.113.7"  # one address shared by a clinic's patients (NAT)


@pytest.fixture
def quick_hashes(settings):
    """Forty accounts are made and logged into here: hashing need not be slow for that."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_successful_logins_from_one_address_are_not_capped_at_30_a_minute(db, quick_hashes):
    patients = [make_user(f"patient{n}@example.com") for n in range(40)]
    with time_machine.travel(timezone.now(), tick=False):
        answers = [
            Client(REMOTE_ADDR=CLINIC)
            .post(reverse("account_login"), {"login": p.email, "password": PASSWORD})
            .status_code
            for p in patients
        ]
    assert answers == [302] * len(patients)


def test_failed_logins_from_one_address_are_limited_per_address(db, quick_hashes, settings):
    accounts = [make_user(f"patient{n}@example.com") for n in range(3)]
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "2/m/ip"}
    clinic = Client(REMOTE_ADDR=CLINIC)
    for account in accounts[:2]:
        clinic.post(reverse("account_login"), {"login": account.email, "password": WRONG})
    refused = clinic.post(
        reverse("account_login"), {"login": accounts[2].email, "password": PASSWORD}
    )
    assert "Too many failed login attempts" in " ".join(login_errors(refused))
    elsewhere = Client(REMOTE_ADDR="198.51.100.9")
    answer = elsewhere.post(
        reverse("account_login"), {"login": accounts[2].email, "password": PASSWORD}
    )
    assert answer.status_code == 302


def test_behind_the_proxy_the_limit_counts_the_address_the_proxy_saw(db, settings):
    """A client's own X-Forwarded-For entries are not believed: only what our proxy appended."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    answers = [
        Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {CLINIC}")
        .post(reverse("account_login"), {"login": "nobody@example.com", "password": WRONG})
        .status_code
        for n in range(4)
    ]
    assert answers == [200, 200, 200, 429]
    other = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert other.post(reverse("account_login"), {"login": "x@example.com"}).status_code == 200


def test_too_many_requests_is_a_page_of_the_site_that_says_when_to_try_again(db, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/5m/ip"}
    client = Client(REMOTE_ADDR=CLINIC)
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(2):
            client.post(reverse("account_login"), {"login": "x@example.com", "password": WRONG})
        refused = client.post(reverse("account_login"), {"login": "x@example.com"})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "300"
    page = refused.content.decode()
    assert "Try again in 5 minutes" in page
    assert 'class="container site-header"' in page  # the site's own layout
    assert refused.templates[0].name == "429.html"


def settings_in(tmp_path, **environment) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process with these variables (and nothing from .env)."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "postgres://secondopinion:password@db.example.org:5432/secondopinion",
    }
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.ACCOUNT_RATE_LIMITS); print(getattr(s, 'ALLAUTH_TRUSTED_PROXY_COUNT', 0))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "secondopinion.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_login_limit_is_a_setting(tmp_path):
    loaded = settings_in(
        tmp_path,
        LOGIN_LIMIT_PER_ADDRESS="500/m",
        LOGIN_FAILURES_PER_ADDRESS="40/m",
        LOGIN_LOCKOUT_ATTEMPTS="7",
        LOGIN_LOCKOUT_MINUTES="20",
        SIGNUP_LIMIT_PER_ADDRESS="30/m",
        PASSWORD_RESET_LIMIT_PER_ADDRESS="25/m",
        PASSWORD_RESET_LIMIT_PER_ACCOUNT="3/m",
        PASSWORD_RESET_LINK_LIMIT_PER_ADDRESS="50/m",
    )
    assert loaded.returncode == 0, loaded.stderr
    limits = eval(loaded.stdout.splitlines()[0])  # noqa: S307 (our own settings, printed)
    assert limits == {
        "login": "500/m/ip",
        "login_failed": "40/m/ip,7/20m/key",
        "signup": "30/m/ip",
        "reset_password": "25/m/ip,3/m/key",
        "reset_password_from_key": "50/m/ip",
    }


def test_a_malformed_limit_stops_the_app_at_start(tmp_path):
    loaded = settings_in(tmp_path, LOGIN_LIMIT_PER_ADDRESS="lots")
    assert loaded.returncode != 0
    assert "LOGIN_LIMIT_PER_ADDRESS" in loaded.stderr


# Sessions ---------------------------------------------------------------------------------------


def test_a_disabled_account_is_logged_out_on_its_next_request(client, alice):
    log_in(client, alice.email)
    assert is_logged_in(client)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = client.get(reverse("requests:case-list"))
    assert response["Location"].startswith(reverse("account_login"))


def test_changing_the_password_ends_every_session(alice):
    here, elsewhere = Client(), Client()
    log_in(here, alice.email)
    log_in(elsewhere, alice.email)
    new = "a-new-long-password-3"
    response = here.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new, "password2": new},
    )
    assert response.status_code == 302
    assert not is_logged_in(elsewhere)
    assert not is_logged_in(here)


# Production settings ----------------------------------------------------------------------------


def production_check(tmp_path, **extra) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "example.org",
        "DATABASE_URL": "postgres://secondopinion:password@db.example.org:5432/secondopinion",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = production_check(tmp_path, BEHIND_PROXY="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_until_the_proxy_setting_is_stated(tmp_path):
    result = production_check(tmp_path)
    assert result.returncode != 0
    assert "BEHIND_PROXY" in result.stderr


@pytest.mark.parametrize(("stated", "count"), [("no", 0), ("1", 1), ("2", 2)])
def test_the_proxy_setting_says_how_many_proxies_to_trust(tmp_path, stated, count):
    loaded = settings_in(tmp_path, DEBUG="false", ALLOWED_HOSTS="example.org", BEHIND_PROXY=stated)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[-1] == str(count)


def test_the_deploy_check_can_fail(tmp_path):
    result = production_check(tmp_path, HTTPS="false", BEHIND_PROXY="no")
    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stdout + result.stderr


# Content-Security-Policy and files --------------------------------------------------------------


def pages_without_arguments(resolver=None, prefix: str = "") -> list[str]:
    """Every URL of the site that takes no argument."""
    found = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if "<" in route or "(?P" in route:
            continue
        if isinstance(pattern, URLResolver):
            found += pages_without_arguments(pattern, route)
        elif isinstance(pattern, URLPattern):
            found.append("/" + route.replace("^", "").replace("$", "").replace("\\", ""))
    return sorted(set(found))


@pytest.mark.parametrize("persona", [None, "alice", "sam"])
def test_every_page_has_a_csp_that_allows_no_inline_scripts(client, db, request, persona):
    if persona == "sam":
        log_in_with_totp(client, request.getfixturevalue("sam"))
    elif persona:
        client.force_login(request.getfixturevalue(persona))
    pages = pages_without_arguments()
    assert reverse("landing") in pages and reverse("admin:index") in pages
    for path in pages:
        response = client.get(path)
        policy = response.headers.get("Content-Security-Policy", "")
        directives = dict((d.split()[0], d.split()[1:]) for d in policy.split(";") if d.strip())
        assert "script-src" in directives, f"{path} ({response.status_code}): {policy!r}"
        assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(directives["script-src"]), path


@pytest.mark.parametrize("persona", [None, "alice"])
def test_every_page_refuses_framing_and_sniffing_and_keeps_its_referrer(
    client, db, request, persona
):
    if persona:
        client.force_login(request.getfixturevalue(persona))
    for path in pages_without_arguments():
        response = client.get(path)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy, path
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "same-origin", path


def test_our_urls_address_records_by_uuid_never_by_sequential_id():
    """Cases, records and reports are named by UUIDs (or signed tokens) in our own URLs."""

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                yield prefix + str(entry.pattern), entry.lookup_str

    ours = ("requests_app.", "records.", "insurance.", "reviewers.")
    routes = list(walk(get_resolver().url_patterns))
    # The admin (staff only) keeps Django's own ids.
    checked = [r for r, view in routes if view.startswith(ours) and not r.startswith("admin/")]
    assert len(checked) > 40
    for route in checked:
        for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", route):
            # A multipart upload's part number is a position in one file, not a record's id.
            # DICOMweb (PS3.18) names studies, series and instances by their DICOM UIDs and
            # frames by their positions in one image; nothing else does.
            dicomweb = route.startswith("dicomweb/")
            assert (
                converter in ("uuid", "str", "slug")
                or name == "number"
                or (dicomweb and converter in ("uid", "frames"))
            ), route


def test_a_session_lasts_eight_hours_and_not_past_the_browser(client, alice):
    log_in(client, alice.email)
    session = client.session
    assert session.get_expire_at_browser_close()
    assert session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 8 * 3600


def test_templates_hold_no_inline_scripts_or_event_handlers():
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
    found = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*.html")
        if inline.search(path.read_text()) or handler.search(path.read_text())
    ]
    assert found == []


def test_uploaded_documents_download_as_attachments_never_sniffed(client, alice):
    case = make_case(alice)
    document = records_services.add_document(
        case, by=alice, kind="original_report", uploaded=pdf_upload()
    )
    client.force_login(alice)
    response = client.get(reverse("records:document-download", args=[case.code, document.code]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_viewers_image_files_download_as_attachments_never_sniffed(client, alice, tmp_path):
    profile = make_reviewer("vera@example.com", "Dr. Vera Lind")
    case, _ = validated_case(alice, tmp_path)
    reviewer_services.claim_case(case, reviewer=profile, by=profile.user)
    log_in_with_totp(client, profile.user)
    client.get(reverse("reviewers:study-viewer", args=[case.code]))
    response, _ = viewer_frame(client, viewer_manifest(case)["series"][0]["images"][0])
    assert response.status_code == 200
    assert response["Content-Disposition"] == "attachment"
    assert response["X-Content-Type-Options"] == "nosniff"
