"""Every page a patient (or the doctor they share with) can reach, in each state it can be in,
passes axe-core with no serious or critical violation and scrolls nothing sideways, at desktop
size and on a 360 px phone. Screenshots of each go to SCREENSHOT_DIR when it is set."""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from records.models import Upload
from requests_app import flow, messaging, shares
from requests_app.models import Case
from tests.browser.test_review_journey import (
    migrated_data,  # noqa: F401 (a fixture)
)
from tests.conftest import COMPLETE_CASE, PASSWORD, make_case, make_user, upload_folder
from tests.records.dicom_factory import write_series
from tests.reviewers.conftest import make_reviewer, validated_case
from tests.reviewers.test_reviewer_desk import _signed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("migrated_data"),
]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}
SHOTS = os.environ.get("SCREENSHOT_DIR")
# A lone checkbox sits before its label, on the same line, not under it.
STRAY_CHECKBOXES = """() => [...document.querySelectorAll("form > div > input[type=checkbox]")]
  .filter((box) => box.offsetParent !== null)
  .filter((box) => {
    const label = document.querySelector(`label[for="${box.id}"]`);
    if (!label) return true;
    const b = box.getBoundingClientRect(), l = label.getBoundingClientRect();
    return !(b.right <= l.left + 1 && b.top < l.bottom && b.bottom > l.top);
  })
  .map((box) => box.name)"""
STEPS = ["patient", "scan", "question", "records", "authorization", "insurance", "specialist"]


@dataclass
class World:
    """One patient with a request in every state, and a link she shared with her doctor."""

    base: str
    email: str
    started: Case  # name and scan given; nothing signed, no insurance
    with_upload: Case  # a draft whose images were checked
    complete: Case  # a draft ready to submit
    by_status: dict[str, Case]
    share_link: str
    passcode: str


@pytest.fixture
def world(live_server, tmp_path, sam) -> World:
    alice = make_user("alice@example.com", first_name="Alice")
    started = make_case(alice, **COMPLETE_CASE)
    with_upload = make_case(alice, complete=True)
    write_series(tmp_path / "draft" / "CD" / "SER1", n=3, patient_name="MOREAU^ALICE")
    upload = upload_folder(with_upload, tmp_path / "draft")
    flow.check_upload(upload.pk)
    assert Upload.objects.get(pk=upload.pk).is_checked
    by_status = {
        status: make_case(alice, complete=True, status=status)
        for status in (
            Case.Status.SUBMITTED,
            Case.Status.NEEDS_RECORDS,
            Case.Status.AWAITING_INSURANCE,
            Case.Status.QUEUED,
            Case.Status.IN_REVIEW,
            Case.Status.CLOSED,
        )
    }
    queued = by_status[Case.Status.QUEUED]
    messaging.send_message(queued, by=alice, body="How long will it take?", from_care_team=False)
    messaging.send_message(queued, by=sam, body="About five working days.", from_care_team=True)
    reported, _ = validated_case(alice, tmp_path / "reported")
    _signed(reported, make_reviewer("rita@example.com", "Dr. Rita Novak"))
    by_status[Case.Status.REPORT_READY] = reported
    new = shares.create_share(reported, by=alice, recipient_name="Dr. Lee")
    return World(
        base=live_server.url,
        email=alice.email,
        started=started,
        with_upload=with_upload,
        complete=make_case(alice, complete=True),
        by_status=by_status,
        share_link=f"{live_server.url}/s/{new.token}/",
        passcode=new.passcode,
    )


def _go(path: str) -> Callable[[Page, World], None]:
    def visit(page: Page, world: World) -> None:
        page.goto(world.base + path)

    return visit


def _case(which: str, suffix: str = "") -> Callable[[Page, World], None]:
    def visit(page: Page, world: World) -> None:
        case = getattr(world, which) if hasattr(world, which) else world.by_status[which]
        page.goto(f"{world.base}/cases/{case.code}/{suffix}")

    return visit


def _open_share(page: Page, world: World) -> None:
    page.goto(world.share_link)
    page.get_by_label("Passcode").fill(world.passcode)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_test_id("share-notice")).to_be_visible()


def _log_in(page: Page, world: World) -> None:
    page.goto(world.base + "/accounts/login/")
    page.get_by_label("Email").fill(world.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="My requests")).to_be_visible()


# Anonymous pages first, then the patient's own, in the order she meets them.
ANONYMOUS = [
    ("landing", _go("/")),
    ("sign-up", _go("/accounts/signup/")),
    ("log-in", _go("/accounts/login/")),
    ("guide", _go("/guide/")),
    ("share-passcode", lambda page, world: page.goto(world.share_link)),
    ("share-opened", _open_share),
]
PATIENT = [
    ("dashboard", _go("/cases/")),
    *[(f"step-{step}", _case("started", f"steps/{step}/")) for step in STEPS],
    ("step-review-missing", _case("started", "steps/review/")),
    ("step-records-with-upload", _case("with_upload", "steps/records/")),
    ("step-review-summary", _case("complete", "steps/review/")),
    ("case-draft", _case("complete")),
    *[(f"case-{status}", _case(status)) for status in Case.Status.values if status != "draft"],
    ("case-messages", _case(Case.Status.QUEUED, "#messages")),
    ("authorization", _case("complete", "authorization/")),
    ("shares", _case(Case.Status.REPORT_READY, "shares/")),
    ("notifications", _go("/notifications/")),
]


@pytest.mark.parametrize("size", SIZES)
def test_every_patient_page_passes_axe_and_fits(page: Page, world, size, check_accessibility):
    page.set_viewport_size(SIZES[size])
    problems: list[str] = []

    def check(name: str, visit: Callable[[Page, World], None]) -> None:
        visit(page, world)
        page.wait_for_load_state("load")
        assert page.url.startswith(world.base), page.url
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            problems.append(f"{name} ({page.url}) scrolls sideways: {widths}")
        if stray := page.evaluate(STRAY_CHECKBOXES):
            problems.append(f"{name}: checkboxes not beside their labels: {stray}")
        try:
            check_accessibility(page)
        except AssertionError as failure:
            problems.append(f"{name}: {failure}")
        if SHOTS:
            Path(SHOTS, size).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/{size}/{name}.png", full_page=True)

    for name, visit in ANONYMOUS:
        check(name, visit)
    _log_in(page, world)
    for name, visit in PATIENT:
        check(name, visit)
        assert not re.search(r"/accounts/login/", page.url), f"{name} sent her to log in"
    assert not problems, "\n".join(problems)
