"""Pages run in Chromium under the Content-Security-Policy production sends, and stay clean.

Every browser test fails on a console error, an uncaught exception or a CSP violation
(tests/browser/conftest.py). These tests show the policy is really enforced, and open the pages
no journey passes through, for each kind of user.
"""

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from playwright.sync_api import Page, expect

from insurance.seeding import seed_insurance
from records import facility_requests
from requests_app.wizard import STEPS
from tests.browser.test_insurance import log_in
from tests.browser.test_review_journey import migrated_data  # noqa: F401 (a fixture)
from tests.conftest import make_case, make_user
from tests.reviewers.conftest import make_reviewer, validated_case

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_script_the_page_did_not_bring_is_refused_and_fails_the_test(
    page: Page, live_server, browser_problems
):
    page.goto(live_server.url + "/")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
        }"""
    )
    assert page.evaluate("() => window.injected") is None
    # Seen twice, by Chromium's own console message and by the page's violation event.
    browser_problems.expect(r"^CSP violation: script-src-elem blocked inline in http://\S+/:")
    browser_problems.expect(r"^console error: Executing inline script violates .*script-src")


def test_a_missing_page_is_allowed_its_404_only_when_the_test_expects_it(
    page: Page, live_server, browser_problems
):
    browser_problems.expect(r"status of 404 \(Not Found\) \(http://\S+/no-such-page/\)$")
    response = page.goto(live_server.url + "/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We couldn't find that page")


def _visit(page: Page, urls: list[str]) -> None:
    for url in urls:
        response = page.goto(url)
        assert response.status == 200, url


def test_every_page_of_a_patients_cases_is_clean(page: Page, live_server, alice, tmp_path):
    seed_insurance()
    draft = make_case(alice, complete=True)
    letter = facility_requests.create_draft(
        draft, by=alice, fields=facility_requests.initial_values(draft)
    ).code
    checked = validated_case(alice, tmp_path / "upload")[0].code
    pages = [reverse(name) for name in ("landing", "guide", "requests:case-list", "notifications")]
    pages += [reverse("requests:case-detail", args=[code]) for code in (draft.code, checked)]
    pages += [reverse("requests:case-step", args=[draft.code, step.slug]) for step in STEPS]
    pages += [
        reverse(f"records:records-request-{view}", args=[draft.code, letter])
        for view in ("detail", "edit")
    ]
    pages += [reverse("account_email"), reverse("mfa_index")]
    log_in(page, live_server.url, alice.email)
    _visit(page, [live_server.url + path for path in pages])


def test_the_reviewer_portal_is_clean(page: Page, live_server, alice, tmp_path, migrated_data):  # noqa: F811
    case, _ = validated_case(alice, tmp_path / "upload")
    reader = make_reviewer("nils@example.com", "Dr. Nils Berg")
    base = live_server.url
    log_in(page, base, reader.user.email)
    _visit(page, [base + reverse("reviewers:portal")])
    page.get_by_role("button", name=f"Claim case {case.short_code}").click()
    expect(page.get_by_test_id("case-status")).to_have_text("In review")
    _visit(page, [base + reverse("mfa_index")])


def test_every_admin_list_and_change_page_is_clean(page: Page, live_server, alice, tmp_path):
    seed_insurance()
    validated_case(alice, tmp_path / "upload")
    make_case(alice, complete=True)
    root = make_user("root@example.com", is_staff=True, is_superuser=True)
    base = live_server.url
    log_in(page, base, root.email)
    urls = [base + reverse("admin:index"), base + reverse("admin:requests_app_case_dashboard")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(base + reverse("admin:{}_{}_changelist".format(*info)))
        sample = model._default_manager.order_by("pk").first()
        if sample is not None:
            urls.append(base + reverse("admin:{}_{}_change".format(*info), args=[sample.pk]))
    _visit(page, urls)
    assert len([u for u in urls if re.search(r"/\d+/change/$", u)]) >= 10  # rows were opened
