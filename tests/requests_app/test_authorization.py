"""The HIPAA authorization (45 CFR 164.508): what it names, its date, the patient's copy, who may
sign it, revocation and what revocation stops."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from records import facility_requests
from records.facility_requests import RecordsRequestError
from requests_app import services, wizard
from requests_app.models import AuditEvent, Authorization, Case, CaseEvent
from tests.conftest import make_case, pdf_upload
from tests.insurance.test_views import pdf_text

NEW_YORK = ZoneInfo("America/New_York")
SIGNING_DAY = datetime(2026, 11, 20, 10, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def on_signing_day():
    """Every test here happens on one day: what a signature says depends on the date."""
    with time_machine.travel(SIGNING_DAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def case(alice):
    return make_case(alice, complete=True)


def letter_to_us(case) -> object:
    values = {**facility_requests.initial_values(case), "send_to_us": True, "send_to": ""}
    return facility_requests.create_draft(case, by=case.patient, fields=values)


def test_the_stored_authorization_carries_its_signed_date_in_the_text_and_on_the_record(case):
    authorization = services.active_authorization(case)
    assert authorization.signed_at == SIGNING_DAY
    assert "Date signed: November 20, 2026" in authorization.text
    assert "Patient: Alice Moreau, born April 2, 1971" in authorization.text
    assert (
        "Exam: MRI of the brain or head of October 14, 2026 done at Springfield General Hospital"
        in authorization.text
    )
    assert "(name)" not in authorization.text
    assert (authorization.patient_name, authorization.patient_birth_date) == (
        "Alice Moreau",
        date(1971, 4, 2),
    )


def test_the_patient_views_and_downloads_the_signed_authorization_from_the_case_page(
    client, alice, case
):
    authorization = services.active_authorization(case)
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    link = reverse("requests:authorization", args=[case.code])
    assert link in page and "signed by Alice Moreau on Nov 20, 2026" in page

    shown = client.get(link).content.decode()
    assert "Date signed: November 20, 2026" in shown
    pdf_url = reverse("requests:authorization-pdf", args=[case.code, authorization.code])
    assert pdf_url in shown
    response = client.get(pdf_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = " ".join(pdf_text(response.content).split())
    assert "Date signed: November 20, 2026" in text and "Alice Moreau" in text
    assert set(
        AuditEvent.objects.filter(target_type="authorization").values_list("action", flat=True)
    ) == {AuditEvent.Action.VIEW, AuditEvent.Action.DOWNLOAD}


def test_bob_gets_404_for_alices_authorization(client, bob, case):
    authorization = services.active_authorization(case)
    client.force_login(bob)
    assert client.get(reverse("requests:authorization", args=[case.code])).status_code == 404
    pdf_url = reverse("requests:authorization-pdf", args=[case.code, authorization.code])
    assert client.get(pdf_url).status_code == 404
    revoke = reverse("requests:authorization-revoke", args=[case.code, authorization.code])
    assert client.post(revoke).status_code == 404
    assert services.active_authorization(case) == authorization
    assert AuditEvent.objects.filter(action=AuditEvent.Action.DENIED).count() == 1


def test_the_text_gives_a_postal_and_an_email_address_for_revoking_it(case):
    text = " ".join(services.active_authorization(case).text.split())
    assert "SecondOpinion, Privacy Office, 100 Main Street, Springfield, IL 62701" in text
    assert "privacy@secondopinion.test" in text
    assert 'the "Revoke" button on your request page' in text


def test_the_patient_revokes_it_with_a_button_and_the_page_says_what_that_means(
    client, alice, case
):
    authorization = services.active_authorization(case)
    with time_machine.travel(datetime(2026, 11, 25, 9, tzinfo=NEW_YORK), tick=False):
        client.force_login(alice)
        response = client.post(
            reverse("requests:authorization-revoke", args=[case.code, authorization.code])
        )
    assert response.status_code == 302
    authorization.refresh_from_db()
    assert authorization.revocation == Authorization.Revocation.ONLINE
    assert authorization.revoked_by == alice
    assert services.active_authorization(case) is None
    assert CaseEvent.objects.filter(
        case=case, message="HIPAA authorization revoked by the patient."
    ).exists()
    page = " ".join(
        client.get(reverse("requests:case-detail", args=[case.code])).content.decode().split()
    )
    assert "You revoked your HIPAA authorization on Nov 25, 2026" in page
    assert "no new letter that asks a facility to send them to us can be signed" in page
    assert "It does not undo what was shared before" in page


def test_a_coordinator_records_a_written_revocation_through_the_admin_action(client, sam, case):
    authorization = services.active_authorization(case)
    client.force_login(sam)
    changelist = reverse("admin:requests_app_authorization_changelist")
    action = {"action": "record_written_revocation", "_selected_action": [authorization.pk]}
    form = client.post(changelist, action)
    assert form.status_code == 200 and "Received on" in form.content.decode()
    assert services.active_authorization(case) == authorization
    with time_machine.travel(datetime(2026, 12, 1, 9, tzinfo=NEW_YORK), tick=False):
        client.force_login(sam)
        response = client.post(
            changelist,
            {**action, "apply": "1", "received_on": "2026-11-30", "note": "Letter, filed"},
        )
    assert response.status_code == 302
    authorization.refresh_from_db()
    assert authorization.revocation == Authorization.Revocation.WRITTEN
    assert authorization.revocation_received_on == date(2026, 11, 30)
    assert authorization.revoked_by == sam
    assert CaseEvent.objects.filter(
        case=case,
        actor=sam,
        message="HIPAA authorization revoked in writing (received Nov 30, 2026).",
    ).exists()


def test_a_written_revocation_needs_the_day_it_was_received(case, sam):
    authorization = services.active_authorization(case)
    with pytest.raises(services.CaseError, match="day the written revocation was received"):
        services.revoke_authorization(
            authorization, by=sam, method=Authorization.Revocation.WRITTEN
        )


def test_after_revocation_no_letter_sending_records_to_us_can_be_signed_with_it(case, alice):
    signed_before = letter_to_us(case)
    facility_requests.sign(signed_before, by=alice, signed_name="Alice Moreau")
    assert signed_before.authorization == services.active_authorization(case)
    assert "signed on November 20, 2026, is attached" in " ".join(
        pdf_text(facility_requests.request_letter_pdf(signed_before)).split()
    )
    sent = letter_to_us(case)
    facility_requests.sign(sent, by=alice, signed_name="Alice Moreau")
    facility_requests.mark_sent(sent, by=alice, sent_on=SIGNING_DAY.date(), sent_by="fax")

    services.revoke_authorization(
        services.active_authorization(case), by=alice, method=Authorization.Revocation.ONLINE
    )
    new = letter_to_us(case)
    with pytest.raises(RecordsRequestError, match="needs your signed HIPAA authorization"):
        facility_requests.sign(new, by=alice, signed_name="Alice Moreau")
    # Signed but not sent: it must not go out now.
    with pytest.raises(RecordsRequestError, match="no longer in force"):
        facility_requests.request_letter_pdf(signed_before)
    # What was sent before stays the patient's record of it (164.508(b)(5)).
    assert facility_requests.request_letter_pdf(sent).startswith(b"%PDF")
    # A letter asking for the records to go to the patient needs no authorization.
    to_me = facility_requests.create_draft(
        case,
        by=alice,
        fields={**facility_requests.initial_values(case), "send_to": "12 Elm St"},
    )
    facility_requests.sign(to_me, by=alice, signed_name="Alice Moreau")


def test_a_case_is_submitted_without_the_authorization_and_the_text_says_so(alice):
    case = make_case(alice, complete=True)
    case.authorizations.all().delete()
    assert wizard.missing_for_submission(case) == []
    services.submit_case(case, by=alice, missing=wizard.missing_for_submission(case))
    assert Case.objects.get(pk=case.pk).status == Case.Status.SUBMITTED
    preview = services.authorization_preview(make_case(alice, complete=True))
    assert "SecondOpinion gives its second opinion whether or not you sign" in preview
    assert "uses this authorization only to ask these facilities" in preview


def test_the_wizard_offers_to_skip_the_authorization(client, alice):
    case = make_case(alice, complete=True)
    case.authorizations.all().delete()
    client.force_login(alice)
    step = client.get(reverse("requests:case-step", args=[case.code, "authorization"]))
    assert "Skip this step: I'll add my records myself" in step.content.decode()


def test_parent_is_offered_and_accepted_only_for_a_patient_under_18(client, alice):
    child = make_case(
        alice, complete=True, patient_name="Leo Moreau", patient_birth_date=date(2010, 1, 5)
    )
    adult = make_case(
        alice, complete=True, patient_name="Leo Moreau", patient_birth_date=date(2008, 11, 20)
    )
    client.force_login(alice)

    def offered(case) -> list[str]:
        url = reverse("requests:case-step", args=[case.code, "authorization"])
        return [value for value, _ in client.get(url).context["form"].fields["authority"].choices]

    assert "parent" in offered(child)
    assert "parent" not in offered(adult)  # 18 today
    document = records_document(adult)
    with pytest.raises(services.CaseError, match="under 18 only"):
        services.sign_authorization(
            adult,
            by=alice,
            signed_name="Alice Moreau",
            authority="parent",
            authority_document_code=document,
        )


def records_document(case):
    from records import services as records_services

    return records_services.add_document(
        case, by=case.patient, kind="authority", uploaded=pdf_upload("power-of-attorney.pdf")
    ).code


def test_a_representative_states_their_authority_and_uploads_proof(client, alice):
    case = make_case(alice, complete=True, patient_name="Ruth Moreau")
    case.authorizations.all().delete()
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "authorization"])
    response = client.post(
        url, {"signed_name": "Alice Moreau", "authority": "health_care_poa", "agree": "on"}
    )
    assert "authority_document" in response.context["form"].errors
    with pytest.raises(services.CaseError, match="document that shows your authority"):
        services.sign_authorization(
            case, by=alice, signed_name="Alice Moreau", authority="health_care_poa"
        )
    response = client.post(
        url,
        {
            "signed_name": "Alice Moreau",
            "authority": "health_care_poa",
            "authority_document": pdf_upload("power-of-attorney.pdf"),
            "agree": "on",
        },
    )
    assert response.status_code == 302
    authorization = case.authorizations.get()
    proof = case.documents.get(kind="authority")
    assert authorization.authority == Authorization.Authority.HEALTH_CARE_POA
    assert authorization.authority_document_code == proof.code
    assert (
        "Alice Moreau (health care power of attorney or health care proxy; a document showing "
        "this authority is on file)" in authorization.text
    )


def test_a_mammogram_authorization_covers_earlier_breast_imaging(alice, case):
    mammogram = make_case(
        alice, complete=True, exam_type="mammogram", body_region="breast", facility_name="Harbor"
    )
    text = " ".join(services.active_authorization(mammogram).text.split())
    assert "the patient's earlier breast imaging (mammograms, breast ultrasound and breast" in text
    assert "and any facility that did earlier breast imaging of the patient" in text
    assert "earlier breast imaging" not in services.active_authorization(case).text


def test_it_is_signed_only_once_the_patient_and_the_exam_are_known(client, alice):
    case = make_case(alice, patient_name="Alice Moreau")
    with pytest.raises(services.CaseError, match="date of birth"):
        services.sign_authorization(case, by=alice, signed_name="Alice Moreau")
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "authorization"]))
    assert page.context["preview"] is None
    assert (
        "Before you can sign it, tell us the patient&#x27;s date of birth" in page.content.decode()
    )


def test_changing_the_patients_name_birth_date_or_exam_asks_for_a_new_signature(
    client, alice, case
):
    for change in (
        {"patient_name": "Alicia Moreau"},
        {"patient_birth_date": date(1971, 4, 3)},
        {"exam_date": date(2026, 10, 15)},
        {"facility_name": "Lakeside Imaging"},
    ):
        changed = make_case(alice, complete=True)
        assert services.active_authorization(changed) is not None
        services.update_case(changed, by=alice, fields=change)
        assert services.active_authorization(changed) is None, change
        assert services.authorization_state(changed).status == "details_changed"
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[changed.code])).content.decode()
    assert "sign again" in page


def test_the_authorization_step_links_only_to_the_step_that_still_lacks_a_detail(client, alice):
    case = make_case(alice, patient_name="Alice Moreau", patient_birth_date=date(1971, 4, 2))
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "authorization"]))
    body = page.content.decode()
    assert "tell us the type of scan, the date of the scan, where the scan was done" in body
    scan_step = reverse("requests:case-step", args=[case.code, "scan"])
    link = f'<a href="{scan_step}" data-testid="authorization-missing-step">the Scan step</a>'
    assert link in body
    assert "the Patient step</a>" not in body
    assert "Type your full name to sign" not in body


def test_a_new_name_entered_in_the_wizard_makes_the_review_ask_for_a_new_signature(
    client, alice, case
):
    client.force_login(alice)
    review = reverse("requests:case-step", args=[case.code, "review"])
    assert "Signed by Alice Moreau on Nov 20, 2026" in client.get(review).content.decode()

    answers = {
        "patient_name": "Alicia Moreau",
        "patient_birth_date": "1971-04-02",
        "patient_state": "IL",
    }
    client.post(reverse("requests:case-step", args=[case.code, "patient"]), answers)

    body = client.get(review).content.decode()
    assert "Signed by Alice Moreau" not in body
    assert "A new signature is needed:</strong> the patient&#x27;s name changed" in body
    step = client.get(reverse("requests:case-step", args=[case.code, "authorization"]))
    assert "A new signature is needed because the details changed" in step.content.decode()
    assert "Patient: Alicia Moreau, born April 2, 1971" in step.context["preview"]
    detail = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "HIPAA authorization signed by" not in detail
    assert "the patient&#x27;s name" in detail
    standalone = client.get(reverse("requests:authorization", args=[case.code]))
    assert "A new signature is needed because the details changed" in standalone.content.decode()
    # The old signature stays on record, naming the patient as she was then.
    (old,) = case.authorizations.all()
    assert "Patient: Alice Moreau, born" in old.text and old.revoked_at is None
    # The review still lets her submit without it: it is optional.
    assert "Before you can submit" not in body


def test_signing_again_after_a_change_names_the_new_details_and_keeps_the_old_one(alice, case):
    services.update_case(case, by=alice, fields={"patient_birth_date": date(1971, 4, 3)})
    state = services.authorization_state(case)
    assert (state.status, state.changed) == ("details_changed", ["the patient's date of birth"])
    new = services.sign_authorization(case, by=alice, signed_name="Alice Moreau")
    assert "Patient: Alice Moreau, born April 3, 1971" in new.text
    assert services.active_authorization(case) == new
    old = case.authorizations.exclude(pk=new.pk).get()
    assert old.superseded_at is not None and "born April 2, 1971" in old.text
