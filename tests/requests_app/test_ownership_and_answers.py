"""Records never change hands through a form, and a submitted case's clinical answers change only
through the correction service, which re-checks the reviewer holding the case."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from requests_app import services
from requests_app.admin_audit import owner_links
from requests_app.models import AuditEvent, Case
from reviewers import services as reviewer_services
from reviewers.models import Opinion, ReviewerProfile
from tests.admin_pages import page_form_data
from tests.conftest import make_case, make_user
from tests.reviewers.conftest import make_reviewer, mqsa_dates, queued_case

# --- Owners ------------------------------------------------------------------------------------


@pytest.fixture
def root(db):
    return make_user("root@example.com", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("who", ["sam", "root"])
def test_coordinator_cannot_hand_a_case_to_another_patient(client, alice, bob, who, request):
    case = make_case(alice, complete=True)
    client.force_login(request.getfixturevalue(who))
    url = reverse("admin:requests_app_case_change", args=[case.pk])
    data = page_form_data(client, url, patient=str(bob.pk), coordinator_note="Checked.")
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    case.refresh_from_db()
    assert case.coordinator_note == "Checked."  # the form was saved...
    assert case.patient == alice  # ...and the case is still Alice's


def test_nobody_hands_a_reviewer_profile_to_another_account(client, root, bob):
    profile = make_reviewer("nils@example.com", "Dr. Nils Berg")
    owner = profile.user
    client.force_login(root)
    url = reverse("admin:reviewers_reviewerprofile_change", args=[profile.pk])
    data = page_form_data(client, url, user=str(bob.pk), bio="Neuroradiologist.")
    assert client.post(url, data).status_code == 302
    profile.refresh_from_db()
    assert (profile.bio, profile.user) == ("Neuroradiologist.", owner)


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_no_admin_form_or_inline_edits_whom_a_record_belongs_to(root):
    """Every registered admin, add and change forms and their inlines: no owner link is a field."""
    request = _request(root)
    editable = []
    for model, model_admin in admin.site._registry.items():
        links = set(owner_links(model))
        for change in (False, True):
            if not change and not model_admin.has_add_permission(request):
                continue
            form = model_admin.get_form(request, None, change=change)
            editable += [f"{model.__name__}.{f}" for f in links & set(form.base_fields)]
        for inline in model_admin.get_inline_instances(request, None):
            inline_links = set(owner_links(inline.model, parent=model))
            formset = inline.get_formset(request, None)
            editable += [
                f"{model.__name__} inline {inline.model.__name__}.{f}"
                for f in inline_links & set(formset.form.base_fields)
            ]
    assert editable == []


def test_the_owner_links_are_the_ones_that_matter():
    """The rule's reach: patients, reviewers, the case a record belongs to, who did what."""
    assert "patient" in owner_links(Case)
    assert "user" in owner_links(ReviewerProfile)
    assert "case" in owner_links(Opinion) and "reviewer" in owner_links(Opinion)
    assert "queue" not in owner_links(Case)


def test_a_case_is_never_added_in_the_admin(client, root, bob):
    client.force_login(root)
    add = reverse("admin:requests_app_case_add")
    assert client.get(add).status_code == 403
    assert client.post(add, {"patient": bob.pk}).status_code == 403
    assert not Case.objects.exists()


def test_a_new_reviewer_gets_a_new_account_never_an_existing_one(client, root, alice, bob):
    client.force_login(root)
    add = reverse("admin:reviewers_reviewerprofile_add")
    data = page_form_data(
        client,
        add,
        email="vera@example.com",
        user=str(alice.pk),
        display_name="Dr. Vera Lind",
        kind="radiologist",
        subspecialties=["neuroradiology"],
        turnaround_days="5",
        capacity="10",
        **{"licenses-0-state": "IL"},
    )
    response = client.post(add, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    profile = ReviewerProfile.objects.get(display_name="Dr. Vera Lind")
    assert profile.user.email == "vera@example.com"
    assert not profile.user.has_usable_password()  # they choose one through the reset e-mail
    assert not hasattr(get_user_model().objects.get(pk=alice.pk), "reviewer_profile")

    taken = client.post(add, {**data, "email": bob.email, "display_name": "Dr. Bob"})
    assert taken.status_code == 200
    assert not ReviewerProfile.objects.filter(display_name="Dr. Bob").exists()


# --- Clinical answers after submission ---------------------------------------------------------


@pytest.fixture
def rita_profile(rita) -> ReviewerProfile:
    """Rita, neuroradiologist, licensed in Illinois only, not MQSA-qualified."""
    return make_reviewer(rita.email, "Dr. Rita Novak", user=rita)


@pytest.fixture
def held(alice, rita_profile):
    """Alice's brain MRI (she lives in Illinois), claimed by Rita, licensed in Illinois only."""
    case = queued_case(alice)
    reviewer_services.claim_case(case, reviewer=rita_profile, by=rita_profile.user)
    case.refresh_from_db()
    return case


def test_submitted_answers_are_read_only_in_the_change_form(client, sam, held):
    client.force_login(sam)
    url = reverse("admin:requests_app_case_change", args=[held.pk])
    data = page_form_data(
        client,
        url,
        exam_type="mammogram",
        body_region="breast",
        birads="5",
        patient_birth_date="1950-01-01",
        patient_state="WI",
        coordinator_note="Seen.",
    )
    assert client.post(url, data).status_code == 302
    held.refresh_from_db()
    assert held.coordinator_note == "Seen."
    assert (held.exam_type, held.body_region, held.birads, held.patient_state) == (
        "mri",
        "brain",
        "",
        "IL",
    )
    assert str(held.patient_birth_date) == "1971-04-02"
    assert held.status == Case.Status.IN_REVIEW


def test_correcting_answers_names_the_fields_on_the_timeline_never_the_values(held, sam):
    changed = reviewer_services.correct_clinical_answers(
        held,
        by=sam,
        changes={"exam_date": held.exam_date.replace(day=1), "facility_location": "Peoria, IL"},
        reason="The patient called.",
    )
    assert sorted(changed) == ["exam_date", "facility_location"]
    held.refresh_from_db()
    assert (held.exam_date.day, held.facility_location) == (1, "Peoria, IL")
    event = held.events.order_by("-pk").first()
    assert event.actor == sam
    assert "date of the scan" in event.message and "city and state" in event.message
    assert "Peoria" not in event.message and "-01" not in event.message
    assert "The patient called." in event.message
    assert held.status == Case.Status.IN_REVIEW  # Rita still qualifies: she keeps the case


def test_a_correction_that_disqualifies_the_reviewer_sends_the_case_back_to_its_queue(
    held, sam, rita_profile
):
    reviewer_services.correct_clinical_answers(
        held,
        by=sam,
        changes={"opinion_state": "WI"},
        reason="In Wisconsin when the opinion is given.",
    )
    held.refresh_from_db()
    assert (held.status, held.assigned_reviewer, held.queue_id) == (
        Case.Status.QUEUED,
        None,
        "neuroradiology",
    )
    assert Opinion.objects.get(case=held).released_at is not None
    assert held.events.filter(from_status="in_review", to_status="queued", actor=sam).exists()


def test_a_mammogram_goes_back_to_the_queue_unless_its_reader_is_mqsa_qualified(
    held, sam, alice, rita_profile
):
    reviewer_services.correct_clinical_answers(
        held,
        by=sam,
        changes={"exam_type": "mammogram", "body_region": "breast", "birads": "4A"},
        reason="It was a mammogram.",
    )
    held.refresh_from_db()
    assert held.status == Case.Status.QUEUED and held.assigned_reviewer is None

    qualified = queued_case(alice)
    ReviewerProfile.objects.filter(pk=rita_profile.pk).update(**mqsa_dates())
    reviewer_services.claim_case(qualified, reviewer=rita_profile, by=rita_profile.user)
    reviewer_services.correct_clinical_answers(
        qualified,
        by=sam,
        changes={"exam_type": "mammogram", "body_region": "breast"},
        reason="It was a mammogram.",
    )
    qualified.refresh_from_db()
    assert qualified.assigned_reviewer == rita_profile


@pytest.mark.parametrize("status", [Case.Status.DRAFT, Case.Status.REPORT_READY, "closed"])
def test_answers_are_corrected_only_between_submission_and_the_report(alice, sam, status):
    case = make_case(alice, complete=True, status=status)
    with pytest.raises(services.CaseError):
        reviewer_services.correct_clinical_answers(
            case, by=sam, changes={"patient_state": "WI"}, reason="Why not."
        )
    case.refresh_from_db()
    assert case.patient_state == "IL"


def test_only_clinical_answers_are_corrected(alice, bob, sam):
    case = queued_case(alice)
    for changes in ({"patient": bob}, {"status": "closed"}, {"assigned_reviewer": None}):
        with pytest.raises(services.CaseError):
            reviewer_services.correct_clinical_answers(
                case, by=sam, changes=changes, reason="Because."
            )
    case.refresh_from_db()
    assert (case.patient, case.status) == (alice, Case.Status.QUEUED)


def test_a_correction_needs_a_reason(held, sam):
    with pytest.raises(services.CaseError):
        reviewer_services.correct_clinical_answers(
            held, by=sam, changes={"patient_state": "WI"}, reason=""
        )


def test_coordinators_correct_answers_from_the_case_page(client, sam, held):
    client.force_login(sam)
    page = client.get(reverse("admin:requests_app_case_change", args=[held.pk]))
    correct = reverse("admin:requests_app_case_correct", args=[held.pk])
    assert correct in page.content.decode()
    form = client.get(correct)
    assert form.status_code == 200
    data = {**form.context["form"].initial, "opinion_state": "WI", "because": "Travelling."}
    data = {k: "" if v is None else v for k, v in data.items()}
    response = client.post(correct, data)
    assert response.status_code == 302, response.context["form"].errors
    held.refresh_from_db()
    assert (held.opinion_state, held.status) == ("WI", Case.Status.QUEUED)
    record = AuditEvent.objects.filter(action=AuditEvent.Action.CHANGE).get()
    assert (record.actor, record.case_code) == (sam, held.code)
