from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from django.urls import reverse

from records import services as records_services
from requests_app import services
from requests_app.models import Authorization, Case
from tests.conftest import make_case, pdf_upload


def _case_urls(case, document=None) -> list[tuple[str, str]]:
    urls = [
        ("get", reverse("requests:case-detail", args=[case.code])),
        ("get", reverse("requests:case-step", args=[case.code, "scan"])),
        ("post", reverse("requests:case-step", args=[case.code, "question"])),
        ("post", reverse("requests:case-submit", args=[case.code])),
        ("post", reverse("requests:case-delete", args=[case.code])),
        ("post", reverse("records:document-add", args=[case.code])),
        ("post", reverse("records:images-add", args=[case.code])),
    ]
    if document is not None:
        urls += [
            ("get", reverse("records:document-download", args=[case.code, document.code])),
            ("post", reverse("records:document-delete", args=[case.code, document.code])),
        ]
    return urls


def test_bob_gets_404_for_every_page_of_alices_case(client, alice, bob):
    case = make_case(alice, complete=True)
    doc = records_services.add_document(
        case, by=alice, kind="original_report", uploaded=pdf_upload()
    )
    client.force_login(bob)
    for method, url in _case_urls(case, doc):
        response = getattr(client, method)(url)
        assert response.status_code == 404, (method, url)
    case.refresh_from_db()
    assert case.status == Case.Status.DRAFT
    assert case.documents.count() == 1


def test_anonymous_visitor_is_sent_to_log_in(client, alice):
    case = make_case(alice)
    for method, url in [*_case_urls(case), ("get", reverse("requests:case-list"))]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url


def test_case_list_shows_only_my_cases(client, alice, bob):
    make_case(alice, exam_type="mri", body_region="knee")
    make_case(bob, exam_type="ct", body_region="chest")
    client.force_login(alice)
    page = client.get(reverse("requests:case-list")).content.decode()
    assert "MRI of the knee" in page
    assert "CT scan of the chest" not in page


def test_wizard_saves_each_step_and_moves_on(client, alice):
    client.force_login(alice)
    response = client.post(reverse("requests:case-new"))
    case = Case.objects.get(patient=alice)
    assert response["Location"] == reverse("requests:case-step", args=[case.code, "patient"])

    steps = [
        (
            "patient",
            {
                "patient_name": "Alice Moreau",
                "patient_birth_date": "1971-04-02",
                "patient_state": "IL",
            },
            "scan",
        ),
        (
            "scan",
            {
                "exam_type": "mri",
                "body_region": "spine",
                "exam_date": "2026-10-01",
                "facility_name": "Lakeview Imaging",
                "facility_location": "Chicago, IL",
            },
            "question",
        ),
        ("question", {"reason": "treatment", "clinical_question": "Do I need surgery?"}, "records"),
        ("records", {}, "authorization"),
        ("authorization", {"signed_name": "alice  moreau", "agree": "on"}, "insurance"),
        (
            "insurance",
            {
                "plan_type": "commercial",
                "insurer_name": "Acme Health",
                "member_id": "XJ123",
                "has_referral": "yes",
            },
            "specialist",
        ),
        (
            "specialist",
            {
                "requested_subspecialty": "neuroradiology",
                "review_type": "both",
                "clinical_specialty": "surgeon",
                "visit_mode": "remote",
                "opinion_state": "IL",
            },
            "review",
        ),
    ]
    for slug, data, following in steps:
        response = client.post(reverse("requests:case-step", args=[case.code, slug]), data)
        assert response.status_code == 302, (
            slug,
            response.context and response.context["form"].errors,
        )
        assert response["Location"] == reverse("requests:case-step", args=[case.code, following])

    case.refresh_from_db()
    assert (case.body_region, case.review_type, case.clinical_specialty) == (
        "spine",
        "both",
        "surgeon",
    )
    assert case.insurance.insurer_name == "Acme Health"
    assert Authorization.objects.get(case=case).signed_name == "alice moreau"

    review = client.get(reverse("requests:case-step", args=[case.code, "review"]))
    assert review.context["missing"] == []
    response = client.post(reverse("requests:case-submit", args=[case.code]), {"confirm": "on"})
    assert response["Location"] == reverse("requests:case-detail", args=[case.code])
    case.refresh_from_db()
    assert case.status == Case.Status.SUBMITTED


def test_invalid_answers_are_explained_and_nothing_is_saved(client, alice):
    case = make_case(alice, facility_name="Lakeview Imaging")
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "scan"])
    response = client.post(url, {"exam_type": "mri", "exam_date": "2999-01-01"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "The date of the scan can't be in the future." in errors["exam_date"]
    assert "body_region" in errors and "facility_name" in errors
    case.refresh_from_db()
    assert case.exam_type == "" and case.facility_name == "Lakeview Imaging"


def test_a_question_longer_than_a_page_is_refused_and_the_saved_one_kept(client, alice):
    # Every signed report prints the question: a book-length one would stall its signing.
    case = make_case(alice, clinical_question="Do I need surgery?")
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "question"])
    assert 'maxlength="2000"' in client.get(url).content.decode()
    long = "Is this a tumour? " * 200
    response = client.post(url, {"reason": "treatment", "clinical_question": long})
    assert response.status_code == 200
    assert "at most 2000 characters" in " ".join(
        response.context["form"].errors["clinical_question"]
    )
    case.refresh_from_db()
    assert case.clinical_question == "Do I need surgery?"


def test_insurance_details_required_unless_self_pay(client, alice):
    case = make_case(alice)
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "insurance"])
    response = client.post(url, {"plan_type": "commercial"})
    assert set(response.context["form"].errors) == {"insurer_name", "member_id", "has_referral"}
    response = client.post(url, {"plan_type": "none"})
    assert response.status_code == 302
    assert case.insurance.is_self_pay


@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=ZoneInfo("America/New_York")), tick=False)
def test_signature_must_match_patient_unless_signing_for_them(client, alice):
    leo = {"patient_name": "Leo Moreau", "patient_birth_date": date(2015, 3, 1)}
    case = make_case(alice, complete=True, **leo)
    case.authorizations.all().delete()
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "authorization"])
    response = client.post(url, {"signed_name": "Alice Moreau", "agree": "on"})
    assert "signed_name" in response.context["form"].errors
    response = client.post(
        url,
        {
            "signed_name": "Alice Moreau",
            "authority": "parent",
            "authority_document": pdf_upload("birth-certificate.pdf"),
            "agree": "on",
        },
    )
    assert response.status_code == 302
    text = case.authorizations.get().text
    assert "Alice Moreau (parent of a patient under 18; a document showing this authority" in text


def test_specialist_step_suggests_from_exam_and_age(client, alice):
    client.force_login(alice)
    case = make_case(alice, exam_type="mri", body_region="knee", patient_birth_date="1980-01-01")
    page = client.get(reverse("requests:case-step", args=[case.code, "specialist"]))
    assert page.context["suggested"].slug == "musculoskeletal"
    assert page.context["form"].initial["requested_subspecialty"] == "musculoskeletal"
    child = make_case(alice, exam_type="mri", body_region="knee", patient_birth_date="2015-01-01")
    page = client.get(reverse("requests:case-step", args=[child.code, "specialist"]))
    assert page.context["suggested"].slug == "pediatric"


def test_submitted_case_wizard_redirects_to_case_page(client, alice):
    case = make_case(alice, complete=True)
    services.submit_case(case, by=alice, missing=[])
    client.force_login(alice)
    response = client.get(reverse("requests:case-step", args=[case.code, "scan"]))
    assert response["Location"] == reverse("requests:case-detail", args=[case.code])


def test_case_page_shows_status_timeline_and_missing(client, alice):
    case = make_case(alice, patient_name="Alice Moreau")
    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Request started." in page
    assert "Sign the authorization" in page  # offered, not required
    assert "sign the HIPAA authorization" not in page.lower()
    assert "Add the images" in page


@pytest.mark.parametrize("role", ["alice", "sam"])
def test_reviewer_portal_is_for_reviewers_only(client, role, request, rita):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("reviewers:portal")).status_code == 403
    client.force_login(rita)
    assert client.get(reverse("reviewers:portal")).status_code == 200


def test_rita_sees_queued_neuro_case_but_not_alices_draft(client, alice, rita):
    draft = make_case(alice, complete=True)
    queued = make_case(alice, complete=True, status=Case.Status.QUEUED, queue_id="neuroradiology")
    other = make_case(alice, complete=True, status=Case.Status.QUEUED, queue_id="breast")
    visible = set(Case.objects.for_reviewer(rita))
    assert visible == {queued}
    assert draft not in visible and other not in visible


def test_coordinator_sees_submitted_case_in_admin(client, alice, sam):
    case = make_case(alice, complete=True)
    services.submit_case(case, by=alice, missing=[])
    client.force_login(sam)
    listing = client.get(reverse("admin:requests_app_case_changelist"))
    assert list(listing.context["cl"].result_list) == [case]
    assert f">{case.short_code}</a>" in listing.content.decode()
    change = client.get(reverse("admin:requests_app_case_change", args=[case.pk]))
    assert change.status_code == 200
    assert "Request submitted." in change.content.decode()


def test_patient_cannot_open_the_admin(client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:requests_app_case_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_healthz_reports_database_broker_and_storage(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok"},
    }


class ReadOnlyStorage(FileSystemStorage):
    """Storage that refuses every write, as a bucket the probe may only read would."""

    def _save(self, name, content):
        raise PermissionError("read-only")

    def delete(self, name):
        raise PermissionError("read-only")


def test_healthz_checks_storage_without_writing_to_it(client, db, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": f"{__name__}.ReadOnlyStorage",
            "OPTIONS": {"location": tmp_path, "base_url": None},
        },
    }
    response = client.get("/healthz")
    assert response.json()["checks"]["storage"] == "ok"
    assert list(tmp_path.iterdir()) == []


def test_healthz_is_ok_before_the_first_file_is_stored(client, db, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "var" / "media", "base_url": None},
        },
    }
    assert client.get("/healthz").json()["checks"]["storage"] == "ok"
    assert not (tmp_path / "var").exists()


@pytest.mark.services
def test_healthz_reads_an_s3_bucket_without_writing_to_it(client, db, s3_bucket):
    response = client.get("/healthz")
    assert response.json()["checks"]["storage"] == "ok"
    assert s3_bucket.list_objects_v2(Bucket=s3_bucket.bucket).get("KeyCount") == 0


def test_healthz_says_when_storage_cannot_be_read(client, db, settings, tmp_path):
    (tmp_path / "media").write_text("a file where the media folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media", "base_url": None},
        },
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "error"


def test_healthz_says_when_the_broker_is_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "error"
