"""The demo seed gives matching real choices, and the patient's pick of a specialist is kept."""

from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from requests_app.models import Case
from reviewers.models import ReviewerChoice, ReviewerLicense, ReviewerProfile, Subspecialty
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer


def test_seed_demo_gives_every_queue_specialists_with_credentials(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 (re-runnable)
    for subspecialty in Subspecialty.objects.all():
        readers = subspecialty.reviewers.filter(kind=ReviewerProfile.Kind.RADIOLOGIST)
        assert readers.exists(), subspecialty.slug
        assert all(r.licenses.exists() and r.board_certification for r in readers)
    breast = Subspecialty.objects.get(slug="breast").reviewers.filter(kind="radiologist")
    today = timezone.localdate()
    assert sum(r.mqsa_current_on(today) for r in breast) >= 2
    assert not all(r.mqsa_current_on(today) for r in breast)  # so the MQSA rule has someone to stop
    licences = ReviewerLicense.objects.all()
    assert not licences.filter(expires_on__isnull=True).exists()
    assert all(lic.expires_on > today and lic.number for lic in licences)
    assert Subspecialty.objects.get(slug="neuroradiology").reviewers.count() >= 3
    assert ReviewerProfile.objects.filter(kind=ReviewerProfile.Kind.CLINICAL).exists()


def _step(case) -> str:
    return reverse("requests:case-step", args=[case.code, "specialist"])


def _answers(**extra) -> dict:
    return {
        "requested_subspecialty": "neuroradiology",
        "review_type": "radiology",
        "visit_mode": "remote",
        "opinion_state": "IL",
        **extra,
    }


def test_specialist_step_lists_qualified_reviewers_with_why_and_keeps_the_pick(client, alice):
    case = make_case(alice, complete=True)
    fits = make_reviewer("fit@example.com", "Dr. Fay Fit", fellowship="Neuroradiology")
    make_reviewer("ny@example.com", "Dr. Ned York", states=("NY",))
    client.force_login(alice)
    page = client.get(_step(case)).content.decode()
    assert "Dr. Fay Fit" in page and "Fellowship-trained: Neuroradiology." in page
    assert "Dr. Ned York" not in page  # not licensed in Illinois
    assert "First available specialist" in page

    response = client.post(_step(case), _answers(reviewer=str(fits.pk)))
    assert response.status_code == 302
    choice = ReviewerChoice.objects.get(case=case)
    assert choice.reviewer == fits and "Licensed in IL" in choice.why

    client.post(_step(case), _answers(reviewer="first"))
    choice.refresh_from_db()
    assert choice.reviewer is None


def test_a_reviewer_who_does_not_fit_cannot_be_forced_by_a_crafted_post(client, alice):
    case = make_case(alice, complete=True)
    elsewhere = make_reviewer("ny@example.com", "Dr. Ned York", states=("NY",))
    client.force_login(alice)
    response = client.post(_step(case), _answers(reviewer=str(elsewhere.pk)))
    assert response.status_code == 200
    assert not ReviewerChoice.objects.filter(case=case).exists()


def test_the_review_summary_and_the_case_page_name_the_chosen_specialist(client, alice):
    case = make_case(alice, complete=True)
    raman = make_reviewer("raman@example.com", "Dr. Priya Raman")
    client.force_login(alice)
    client.post(_step(case), _answers(reviewer=str(raman.pk)))
    review = client.get(reverse("requests:case-step", args=[case.code, "review"]))
    assert "Read by Dr. Priya Raman" in review.content.decode()

    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Your case is waiting for Dr. Priya Raman to accept it." in page
    assert "next available specialist" not in page


def test_first_available_is_said_so_in_the_review_summary_and_on_the_case_page(client, alice):
    case = make_case(alice, complete=True)
    make_reviewer("raman@example.com", "Dr. Priya Raman")
    client.force_login(alice)
    client.post(_step(case), _answers(reviewer="first"))
    review = client.get(reverse("requests:case-step", args=[case.code, "review"]))
    assert "Read by the first available specialist" in review.content.decode()

    Case.objects.filter(pk=case.pk).update(status=Case.Status.QUEUED, queue_id="neuroradiology")
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "waiting for the next available specialist of the right kind" in page
    assert "Dr. Priya Raman" not in page
