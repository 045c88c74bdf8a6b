"""The audit log stays readable: filtered by case, person, action and day, and one case's access
history exported as CSV, the export itself on the record."""

import csv
import io
from datetime import UTC, datetime

from django.urls import reverse

from requests_app.models import AuditEvent, Case
from tests.conftest import make_case

Action = AuditEvent.Action
LIST = "admin:requests_app_auditevent_changelist"
DAY = datetime(2031, 3, 14, 15, 30, tzinfo=UTC)


def _log(actor, case: Case, action=Action.VIEW, at=DAY, what="document") -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor, action=action, target_type=what, target_code="x", case_code=case.code, at=at
    )


def _listed(client, **query) -> list[AuditEvent]:
    page = client.get(reverse(LIST), query)
    assert page.status_code == 200
    return list(page.context["cl"].result_list)


def test_the_log_filters_by_case_person_action_and_day(client, sam, alice, bob):
    mine, theirs = make_case(alice), make_case(bob)
    viewed = _log(alice, mine)
    downloaded = _log(sam, mine, action=Action.DOWNLOAD)
    earlier = _log(alice, mine, at=datetime(2031, 1, 2, 9, 0, tzinfo=UTC))
    other = _log(bob, theirs)
    client.force_login(sam)

    assert set(_listed(client, case=str(mine.code))) == {viewed, downloaded, earlier}
    assert _listed(client, case=str(mine.code), actor=str(sam.pk)) == [downloaded]
    assert set(_listed(client, action=Action.VIEW)) == {viewed, earlier, other}
    # As the admin's date filter links them: the day's bounds in the site's zone (New York).
    on_the_day = {"at__gte": "2031-03-14 00:00:00-04:00", "at__lt": "2031-03-15 00:00:00-04:00"}
    assert set(_listed(client, case=str(mine.code), **on_the_day)) == {viewed, downloaded}
    page = client.get(reverse(LIST), {"case": str(mine.code)}).content.decode()
    assert f"Case {mine.short_code}" in page and alice.email in page


def test_a_cases_access_history_exports_as_csv_and_the_export_is_recorded(client, sam, alice, bob):
    mine, theirs = make_case(alice), make_case(bob)
    _log(alice, mine)
    _log(sam, mine, action=Action.DOWNLOAD, what="opinion-report")
    _log(bob, theirs)
    client.force_login(sam)

    response = client.get(reverse("admin:requests_app_auditevent_case_history", args=[mine.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert f"access-history-{mine.short_code}.csv" in response["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert header[:4] == ["when (UTC)", "who", "action", "record"]
    assert [row[:4] for row in rows] == [
        ["2031-03-14T15:30:00+00:00", alice.email, "Viewed", "document"],
        ["2031-03-14T15:30:00+00:00", sam.email, "Downloaded", "opinion-report"],
    ]
    export = AuditEvent.objects.get(target_type="access-history")
    assert (export.actor, export.action, export.case_code) == (sam, Action.DOWNLOAD, mine.code)


def test_the_case_page_links_to_its_log_and_its_export(client, sam, alice):
    case = make_case(alice)
    client.force_login(sam)
    page = client.get(reverse("admin:requests_app_case_change", args=[case.pk])).content.decode()
    assert f"?case={case.code}" in page
    assert reverse("admin:requests_app_auditevent_case_history", args=[case.pk]) in page
