"""Asking the imaging facility for the records: the letters, the 30-day clock and its reminders."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from records import facility_requests
from records.facility_requests import RecordsRequestError
from records.models import RecordsRequest
from records.tasks import remind_records_requests_task
from requests_app.models import AuditEvent, CaseEvent, Notification
from tests.conftest import make_case
from tests.insurance.test_views import pdf_text

NEW_YORK = ZoneInfo("America/New_York")
SIGNED = datetime(2026, 11, 2, 10, 0, tzinfo=NEW_YORK)
SENT = date(2026, 11, 3)


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK)


def make_request(case, **fields) -> RecordsRequest:
    """A draft request as the form would create it, prefilled from the case."""
    values = {**facility_requests.initial_values(case), "send_to": "12 Elm St", **fields}
    return facility_requests.create_draft(case, by=case.patient, fields=values)


def sent_request(case, sent_by: str = "in_person", **fields) -> RecordsRequest:
    """A request signed on Nov 2 and sent on Nov 3, 2026; handed in, it is due Dec 3."""
    records_request = make_request(case, **fields)
    with time_machine.travel(SIGNED, tick=False):
        facility_requests.sign(records_request, by=case.patient, signed_name="Alice Moreau")
    with time_machine.travel(at(SENT), tick=False):
        facility_requests.mark_sent(records_request, by=case.patient, sent_on=SENT, sent_by=sent_by)
    return records_request


def url(name: str, records_request: RecordsRequest) -> str:
    return reverse(f"records:{name}", args=[records_request.case.code, records_request.code])


@pytest.fixture
def case(alice):
    return make_case(alice, complete=True)


@pytest.fixture
def mammogram(alice):
    return make_case(
        alice,
        complete=True,
        exam_type="mammogram",
        body_region="breast",
        facility_name="Harbor Breast Imaging Center",
    )


def test_new_request_form_is_prefilled_from_the_case(client, alice, case):
    client.force_login(alice)
    response = client.get(reverse("records:records-request-new", args=[case.code]))
    assert response.status_code == 200
    form = response.context["form"]
    assert form["facility_name"].value() == "Springfield General Hospital"
    assert form["exam_date"].value() == date(2026, 10, 14)
    assert form["exam_description"].value() == "MRI of the brain or head"
    assert "wants_prior_mammograms" not in form.fields


def test_patient_creates_signs_and_marks_the_request_sent_through_the_pages(client, alice, case):
    client.force_login(alice)
    response = client.post(
        reverse("records:records-request-new", args=[case.code]),
        {
            "facility_name": "Springfield General Hospital",
            "facility_address": "800 E Carpenter St\nSpringfield, IL 62769",
            "exam_description": "MRI of the brain",
            "exam_date": "2026-10-14",
            "wants_images": "on",
            "wants_report": "on",
            "delivery": "usb",
            "send_to": "12 Elm St, Springfield, IL",
        },
    )
    records_request = RecordsRequest.objects.get(case=case)
    assert response.status_code == 302 and response["Location"] == url(
        "records-request-detail", records_request
    )
    assert records_request.delivery == "usb" and not records_request.is_signed

    with time_machine.travel(SIGNED, tick=False):
        client.post(
            url("records-request-sign", records_request),
            {"signed_name": "Alice  Moreau", "agree": "on"},
        )
        client.post(
            url("records-request-sent", records_request),
            {"sent_on": "2026-11-02", "sent_by": "mail"},
        )
        page = client.get(url("records-request-detail", records_request))
        # The status depends on the day: read it on the day the page was shown.
        shown_status = page.context["rr"].status
    records_request.refresh_from_db()
    assert records_request.signed_name == "Alice Moreau"
    # Mailed on Nov 2: received by Nov 7 at the latest, so due 30 days later.
    assert records_request.due_on == date(2026, 12, 7)
    assert shown_status == RecordsRequest.Status.SENT
    assert "December 7, 2026" in page.content.decode()
    assert (
        list(
            CaseEvent.objects.filter(case=case, message__contains="ecords request").values_list(
                "actor__email", flat=True
            )
        )
        == ["alice@example.com"] * 3
    )


def test_form_needs_something_to_ask_for_and_an_address(client, alice, case):
    client.force_login(alice)
    response = client.post(
        reverse("records:records-request-new", args=[case.code]),
        {"facility_name": "Springfield General", "exam_description": "MRI", "delivery": "cd"},
    )
    assert response.status_code == 400
    assert "Choose at least one record to ask for." in response.content.decode()
    assert "send_to" in response.context["form"].errors
    assert not RecordsRequest.objects.exists()


def test_letter_names_the_facility_the_records_and_the_deadline_from_receipt(case):
    records_request = make_request(
        case, facility_address="800 E Carpenter St", facility_fax="217-555-0100", delivery="cd"
    )
    with time_machine.travel(SIGNED, tick=False):
        facility_requests.sign(records_request, by=case.patient, signed_name="Alice Moreau")
        text = " ".join(pdf_text(facility_requests.request_letter_pdf(records_request)).split())
    for expected in [
        "Springfield General Hospital",
        "800 E Carpenter St",
        "Fax: 217-555-0100",
        "Alice Moreau",
        "April 2, 1971",
        "DICOM image files of the MRI of the brain or head of October 14, 2026",
        "not a PDF, screenshots or printed films",
        "written radiology report",
        "Please provide them on a CD or DVD. Please send them to: 12 Elm St",
        "45 CFR 164.524",
        "act on this request within 30 days of receipt",
        "reasonable, cost-based fee",
        "one other option is a flat fee instead of calculating your costs; that flat fee may be "
        "no more than $6.50",
        "/s/ Alice Moreau",
    ]:
        assert expected in text, expected
    # The facility's clock starts when it receives the letter, a day the letter cannot know.
    assert "that is by" not in text and "2026, that" not in text
    assert "mammogram" not in text.lower()
    assert "pathology" not in text.lower()


def test_mammogram_letter_also_asks_for_prior_images_and_pathology(mammogram):
    records_request = sent_request(mammogram)
    text = " ".join(pdf_text(facility_requests.request_letter_pdf(records_request)).split())
    assert "Harbor Breast Imaging Center" in text
    assert "earlier mammogram images (DICOM files) and their reports" in text
    assert "Any pathology (biopsy) report" in text
    assert "within 30 days of receipt" in text and "December 3" not in text


def test_unsigned_letter_cannot_be_downloaded(client, alice, case):
    records_request = make_request(case)
    client.force_login(alice)
    response = client.get(url("records-request-letter", records_request))
    assert response.status_code == 302
    assert not AuditEvent.objects.exists()


def test_due_date_is_30_days_after_receipt_and_60_with_an_extension_without_a_date(case):
    records_request = sent_request(case)
    assert records_request.due_on == date(2026, 12, 3)
    with time_machine.travel(at(date(2026, 11, 20)), tick=False):
        assert records_request.status == RecordsRequest.Status.SENT
        assert records_request.days_left == 13
        facility_requests.note_extension(
            records_request, by=case.patient, noted_on=date(2026, 11, 20), reason="Archive offsite"
        )
        assert records_request.status == RecordsRequest.Status.EXTENDED
        with pytest.raises(RecordsRequestError):
            facility_requests.note_extension(
                records_request, by=case.patient, noted_on=date(2026, 11, 20)
            )
    records_request.refresh_from_db()
    assert records_request.due_on == date(2027, 1, 2)
    assert CaseEvent.objects.filter(
        case=case, message="The facility extended its deadline to Jan 2, 2027."
    ).exists()


def test_no_extension_once_the_deadline_has_passed(case):
    records_request = sent_request(case)
    with time_machine.travel(at(date(2026, 12, 4)), tick=False):
        assert records_request.status == RecordsRequest.Status.OVERDUE
        with pytest.raises(RecordsRequestError):
            facility_requests.note_extension(
                records_request, by=case.patient, noted_on=date(2026, 12, 4)
            )


def test_sent_date_must_be_after_signing_and_not_in_the_future(case):
    records_request = make_request(case)
    with pytest.raises(RecordsRequestError, match="Sign the letter"):
        facility_requests.mark_sent(records_request, by=case.patient, sent_on=SENT, sent_by="fax")
    with time_machine.travel(SIGNED, tick=False):
        facility_requests.sign(records_request, by=case.patient, signed_name="Alice Moreau")
        with pytest.raises(RecordsRequestError, match="future"):
            facility_requests.mark_sent(
                records_request, by=case.patient, sent_on=SENT, sent_by="fax"
            )
        with pytest.raises(RecordsRequestError, match="before you signed"):
            facility_requests.mark_sent(
                records_request, by=case.patient, sent_on=date(2026, 11, 1), sent_by="fax"
            )
    assert RecordsRequest.objects.get(pk=records_request.pk).sent_on is None


def test_editing_a_signed_draft_asks_for_a_new_signature(case):
    records_request = make_request(case)
    facility_requests.sign(records_request, by=case.patient, signed_name="Alice Moreau")
    facility_requests.update_draft(
        records_request, by=case.patient, fields={"facility_name": "Lakeside Imaging"}
    )
    records_request.refresh_from_db()
    assert records_request.facility_name == "Lakeside Imaging"
    assert not records_request.is_signed


def reminders(records_request: RecordsRequest) -> list[Notification]:
    return list(
        Notification.objects.filter(
            case=records_request.case, kind=Notification.Kind.RECORDS_REQUEST
        ).order_by("pk")
    )


def test_reminders_go_out_seven_days_before_and_after_the_deadline_once_each(case):
    records_request = sent_request(case)
    with time_machine.travel(at(date(2026, 11, 25)), tick=False):
        assert facility_requests.due_reminders(now=at(date(2026, 11, 25))) == 0
    with time_machine.travel(at(date(2026, 11, 26)), tick=False):
        assert remind_records_requests_task() == 1
        assert remind_records_requests_task() == 0
    with time_machine.travel(at(date(2026, 12, 3), 23), tick=False):
        assert remind_records_requests_task() == 0
    with time_machine.travel(at(date(2026, 12, 4)), tick=False):
        assert remind_records_requests_task() == 1
        assert remind_records_requests_task() == 0
    with time_machine.travel(at(date(2026, 12, 20)), tick=False):
        assert remind_records_requests_task() == 0

    before, overdue = reminders(records_request)
    assert before.title == "Alice, your records request is due in 7 days"
    assert overdue.title == "Alice, the deadline for your records request has passed"
    assert "second request letter" in overdue.body
    assert before.user == overdue.user == case.patient
    assert overdue.link == url("records-request-detail", records_request)
    for notification in (before, overdue):
        words = notification.title + notification.body
        assert "Springfield" not in words and "Moreau" not in words and "MRI" not in words


def test_an_extension_starts_the_reminders_over(case):
    records_request = sent_request(case)
    with time_machine.travel(at(date(2026, 11, 27)), tick=False):
        assert remind_records_requests_task() == 1
        facility_requests.note_extension(
            records_request, by=case.patient, noted_on=date(2026, 11, 27)
        )
    with time_machine.travel(at(date(2026, 12, 4)), tick=False):
        assert remind_records_requests_task() == 0
    with time_machine.travel(at(date(2026, 12, 26)), tick=False):
        assert remind_records_requests_task() == 1
    with time_machine.travel(at(date(2027, 1, 3)), tick=False):
        assert remind_records_requests_task() == 1
    assert [n.title for n in reminders(records_request)] == [
        "Alice, your records request is due in 6 days",
        "Alice, your records request is due in 7 days",
        "Alice, the deadline for your records request has passed",
    ]


def test_received_records_stop_the_clock_and_the_reminders(case):
    records_request = sent_request(case)
    with time_machine.travel(at(date(2026, 11, 20)), tick=False):
        facility_requests.mark_received(
            records_request, by=case.patient, received_on=date(2026, 11, 19)
        )
    with time_machine.travel(at(date(2026, 12, 10)), tick=False):
        assert records_request.status == RecordsRequest.Status.RECEIVED
        assert remind_records_requests_task() == 0
        with pytest.raises(RecordsRequestError):
            facility_requests.escalation_letter_pdf(records_request, by=case.patient)
    assert reminders(records_request) == []


def test_escalation_letter_only_once_the_deadline_has_passed(client, alice, case):
    records_request = sent_request(case)
    with time_machine.travel(at(date(2026, 12, 3), 20), tick=False):
        client.force_login(alice)
        response = client.get(url("records-request-escalation", records_request))
        assert response.status_code == 302
        page = client.get(url("records-request-detail", records_request)).content.decode()
        assert "second request letter (PDF)" not in page
    assert not AuditEvent.objects.exists()

    with time_machine.travel(at(date(2026, 12, 4)), tick=False):
        client.force_login(alice)
        page = client.get(url("records-request-detail", records_request)).content.decode()
        assert "Download the second request letter (PDF)" in page
        response = client.get(url("records-request-escalation", records_request))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    text = " ".join(pdf_text(response.content).split())
    for expected in [
        "Springfield General Hospital",
        "On November 3, 2026 I asked you",
        "no later than December 3, 2026",
        "written radiology report",
        "Office for Civil Rights",
        "December 4, 2026",
    ]:
        assert expected in text, expected
    records_request.refresh_from_db()
    assert records_request.escalation_generated_at is not None
    assert CaseEvent.objects.filter(case=case, message__startswith="Second records").count() == 1


def test_each_letter_download_writes_an_audit_record(client, alice, case):
    records_request = sent_request(case)
    client.force_login(alice)
    for _ in range(2):
        response = client.get(url("records-request-letter", records_request))
        assert response.status_code == 200
    with time_machine.travel(at(date(2026, 12, 5)), tick=False):
        client.force_login(alice)
        for _ in range(2):
            response = client.get(url("records-request-escalation", records_request))
            assert response.status_code == 200
    events = AuditEvent.objects.filter(target_type="records_request_letter")
    assert events.count() == 4
    # The second letter goes on the timeline once, however often it is downloaded.
    assert CaseEvent.objects.filter(case=case, message__startswith="Second records").count() == 1
    assert {(e.actor, e.action, e.target_code, e.case_code) for e in events} == {
        (alice, AuditEvent.Action.DOWNLOAD, str(records_request.code), case.code)
    }


def test_bob_gets_404_for_alices_records_request(client, bob, case):
    records_request = sent_request(case)
    gets = ["detail", "edit", "letter", "escalation"]
    posts = ["sign", "sent", "extension", "received"]
    with time_machine.travel(at(date(2026, 12, 5)), tick=False):
        client.force_login(bob)
        for name in gets:
            assert client.get(url(f"records-request-{name}", records_request)).status_code == 404
        for name in posts:
            response = client.post(
                url(f"records-request-{name}", records_request),
                {"received_on": "2026-12-01", "noted_on": "2026-11-10"},
            )
            assert response.status_code == 404, name
        new = reverse("records:records-request-new", args=[case.code])
        assert client.get(new).status_code == 404
    # The two letters are records: each refused download is on the audit log, as refused.
    refused = AuditEvent.objects.values_list("actor", "action", "target_type", "case_code")
    assert (
        list(refused)
        == [(bob.pk, AuditEvent.Action.DENIED, "records_request_letter", case.code)] * 2
    )
    assert RecordsRequest.objects.get(pk=records_request.pk).received_on is None


def test_anonymous_is_sent_to_log_in(client, case):
    records_request = sent_request(case)
    response = client.get(url("records-request-letter", records_request))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_case_page_shows_the_clock_and_the_wizard_offers_help(client, alice, case):
    records_request = sent_request(case)
    client.force_login(alice)
    with time_machine.travel(at(date(2026, 11, 23)), tick=False):
        page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert url("records-request-detail", records_request) in page
    assert "due Dec 3, 2026 (10 days left)" in page
    step = client.get(reverse("requests:case-step", args=[case.code, "records"])).content.decode()
    assert "We'll help you ask for them" in step
    assert reverse("records:records-request-new", args=[case.code]) in step


def test_coordinator_sees_overdue_requests_in_the_admin(client, sam, case, alice):
    overdue = sent_request(case)
    waiting = sent_request(make_case(alice, complete=True))
    changelist = reverse("admin:records_recordsrequest_changelist")
    change = reverse("admin:records_recordsrequest_change", args=[overdue.pk])
    with time_machine.travel(at(date(2026, 12, 4)), tick=False):
        client.force_login(sam)
        with time_machine.travel(at(date(2026, 11, 25)), tick=False):
            facility_requests.note_extension(waiting, by=alice, noted_on=date(2026, 11, 25))
        response = client.get(changelist, {"deadline": "overdue"})
        assert response.status_code == 200
        assert [r.pk for r in response.context["cl"].result_list] == [overdue.pk]
        assert client.get(change).status_code == 200
        assert client.post(change, {"facility_name": "Changed"}).status_code == 403


def test_patient_edits_an_unsent_request_but_not_a_sent_one(client, alice, case):
    draft = make_request(case)
    facility_requests.sign(draft, by=alice, signed_name="Alice Moreau")
    client.force_login(alice)
    edit = url("records-request-edit", draft)
    assert client.get(edit).status_code == 200
    values = {**facility_requests.initial_values(case), "exam_date": "2026-10-14"}
    values.update(facility_name="Lakeside Imaging", send_to="12 Elm St", delivery="cd")
    values = {k: v for k, v in values.items() if v not in (False, None)}
    response = client.post(edit, values)
    assert response["Location"] == url("records-request-detail", draft)
    draft.refresh_from_db()
    assert (draft.facility_name, draft.wants_images, draft.is_signed) == (
        "Lakeside Imaging",
        True,
        False,
    )

    sent = sent_request(case)
    client.force_login(alice)
    response = client.post(url("records-request-edit", sent), {**values, "facility_name": "X"})
    assert response.status_code == 302
    assert RecordsRequest.objects.get(pk=sent.pk).facility_name == "Springfield General Hospital"


# The clock counts from the facility's receipt (45 CFR 164.524(b)(2)) ---------------------------


@pytest.mark.parametrize(
    ("sent_by", "due_on"),
    [
        ("mail", date(2026, 12, 8)),  # received by Nov 8 at the latest
        ("fax", date(2026, 12, 4)),
        ("email", date(2026, 12, 4)),
        ("portal", date(2026, 12, 4)),
        ("in_person", date(2026, 12, 3)),
    ],
)
def test_deadline_counts_from_the_facilitys_receipt_by_how_the_letter_went(case, sent_by, due_on):
    records_request = sent_request(case, sent_by=sent_by)
    assert records_request.due_on == due_on
    assert RecordsRequest.objects.get(pk=records_request.pk).due_on == due_on


def test_a_receipt_date_the_patient_confirms_sets_the_deadline(client, alice, case):
    records_request = sent_request(case, sent_by="mail")
    client.force_login(alice)
    with time_machine.travel(at(date(2026, 11, 10)), tick=False):
        response = client.post(
            url("records-request-receipt", records_request), {"received_request_on": "2026-11-06"}
        )
    assert response.status_code == 302
    records_request.refresh_from_db()
    assert records_request.request_received_on == date(2026, 11, 6)
    assert records_request.due_on == date(2026, 12, 6)
    assert CaseEvent.objects.filter(
        case=case, message__contains="received the records request on Nov 6, 2026"
    ).exists()
    with pytest.raises(RecordsRequestError, match="between sending and today"):
        facility_requests.confirm_receipt(
            records_request, by=alice, received_request_on=date(2026, 11, 1)
        )


def test_an_extension_ends_on_the_date_the_facility_gave_or_60_days_after_receipt(alice):
    gave_earlier = sent_request(make_case(alice, complete=True), sent_by="fax")  # receipt Nov 4
    gave_later = sent_request(make_case(alice, complete=True), sent_by="fax")
    with time_machine.travel(at(date(2026, 11, 20)), tick=False):
        facility_requests.note_extension(
            gave_earlier, by=alice, noted_on=date(2026, 11, 20), new_due_on=date(2026, 12, 20)
        )
        facility_requests.note_extension(
            gave_later, by=alice, noted_on=date(2026, 11, 20), new_due_on=date(2027, 2, 1)
        )
    assert gave_earlier.due_on == date(2026, 12, 20)
    assert gave_earlier.extension_due_on == date(2026, 12, 20)
    assert gave_later.due_on == date(2027, 1, 3)  # receipt + 60 days wins
    assert CaseEvent.objects.filter(
        case=gave_later.case,
        message="The facility gave Feb 1, 2027; HIPAA allows no later than Jan 3, 2027, which "
        "is the deadline.",
    ).exists()


def test_escalation_letter_says_the_date_you_gave_me_only_when_the_facility_gave_one(alice):
    gave = sent_request(make_case(alice, complete=True))
    silent = sent_request(make_case(alice, complete=True))
    plain = sent_request(make_case(alice, complete=True))
    with time_machine.travel(at(date(2026, 11, 20)), tick=False):
        facility_requests.note_extension(
            gave, by=alice, noted_on=date(2026, 11, 20), new_due_on=date(2026, 12, 15)
        )
        facility_requests.note_extension(silent, by=alice, noted_on=date(2026, 11, 20))
    with time_machine.travel(at(date(2027, 1, 5)), tick=False):
        texts = {
            name: " ".join(pdf_text(facility_requests.escalation_letter_pdf(rr, by=alice)).split())
            for name, rr in (("gave", gave), ("silent", silent), ("plain", plain))
        }
    assert "no later than December 15, 2026, the date you gave me" in texts["gave"]
    assert "the date you gave me" not in texts["silent"]
    assert (
        "no later than January 2, 2027: 60 days after you received my request, the longest "
        "HIPAA allows" in texts["silent"]
    )
    assert "the date you gave me" not in texts["plain"]
    assert "no later than December 3, 2026, 30 days after you received my request" in texts["plain"]


def test_fee_wording_is_cost_based_with_a_capped_flat_fee_as_one_option(client, alice, case):
    records_request = make_request(case)
    client.force_login(alice)
    page = " ".join(
        client.get(url("records-request-detail", records_request)).content.decode().split()
    )
    assert "Only a reasonable, cost-based fee" in page
    assert "they may instead charge a flat fee, which may be no more than $6.50" in page
    guide = " ".join(client.get(reverse("guide")).content.decode().split())
    assert "about $6.50" not in guide
    assert "a facility may instead charge a flat fee, which may be no more than $6.50" in guide
    assert "within 30 days of receiving your request" in guide


def test_mammogram_letter_cites_the_mqsa_transfer_right(mammogram, case):
    mammo_text = " ".join(
        pdf_text(facility_requests.request_letter_pdf(sent_request(mammogram))).split()
    )
    assert "21 CFR 900.12(c)(4)" in mammo_text
    assert "transfer my original mammograms or copies, with their reports" in mammo_text
    mri_text = " ".join(pdf_text(facility_requests.request_letter_pdf(sent_request(case))).split())
    assert "900.12" not in mri_text
