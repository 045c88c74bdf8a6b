"""Who may read: kinds of reader, "both" cases, MQSA, licensure where the patient will be,
credentials that lapse, independence from the place that did the scan."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from records.models import Instance
from requests_app.models import Case, Notification
from reviewers import credentials, services
from reviewers.matching import Need, check, match_case, reasons_not_eligible
from reviewers.models import Opinion, ReviewerChoice, ReviewerLicense
from reviewers.routing import WHY, suggest_subspecialty
from tests.conftest import make_case
from tests.reviewers.conftest import make_reviewer, queued_case, validated_mammogram
from tests.reviewers.test_matching import facts

CHICAGO = ZoneInfo("America/Chicago")
DAY = date(2027, 3, 1)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHICAGO)


def oncologist(**fields):
    return make_reviewer(
        "kim@example.com",
        "Dr. Daniel Kim",
        subspecialties=("breast",),
        kind="clinical",
        clinical_specialty="oncologist",
        **fields,
    )


def imager(**fields):
    return make_reviewer(
        "bea@example.com", "Dr. Bea Imager", subspecialties=("breast",), mqsa=True, **fields
    )


def breast_case(patient, **fields) -> Case:
    fields.setdefault("queue_id", "breast")
    return queued_case(
        patient,
        exam_type="mammogram",
        body_region="breast",
        birads="4A",
        had_biopsy="no",
        **fields,
    )


# --- Kinds of reader ---------------------------------------------------------------------------


def test_an_oncologist_cannot_take_the_reading_of_a_both_mammogram_case(alice):
    case = breast_case(alice, review_type="both", clinical_specialty="oncologist")
    kim = oncologist()
    problems = reasons_not_eligible(case, kim)
    assert "is not a radiologist, and this part is an image reading" in problems
    assert "is not MQSA-qualified to read mammograms" in problems
    with pytest.raises(services.ReviewError):
        services.claim_case(case, reviewer=kim, by=kim.user)


def test_mqsa_binds_whoever_interprets_a_mammogram_whatever_their_profile_says():
    reading = Need(subspecialty="breast", mammography=True)
    for kind in ("radiologist", "clinical"):
        reader = facts(kind=kind, subspecialties=frozenset({"breast"}))
        assert any("MQSA" in p for p in check(reading, reader)), kind
    consultation = Need(subspecialty="breast", mammography=True, role="consultation")
    consultant = facts(kind="clinical", subspecialties=frozenset({"breast"}))
    assert check(consultation, consultant) == []  # a consultation interprets no images


def test_a_clinician_writes_a_consultation_without_image_grades(alice):
    case = breast_case(alice, review_type="clinical", clinical_specialty="oncologist")
    kim = oncologist()
    opinion = services.claim_case(case, reviewer=kim, by=kim.user)
    assert opinion.role == Opinion.Role.CONSULTATION
    with pytest.raises(services.ReviewError, match="no image reading"):
        services.file_blind_read(opinion, by=kim.user, findings="F", impression="I", birads="2")
    with pytest.raises(services.ReviewError, match="not graded"):
        services.grade_concordance(opinion, by=kim.user, radpeer="1", patient_summary="S")
    services.file_consultation(
        opinion, by=kim.user, assessment="A.", recommendations="R.", patient_summary="S."
    )
    services.sign_report(opinion, by=kim.user, signed_name="Dr. Daniel Kim")
    opinion.refresh_from_db()
    case.refresh_from_db()
    assert case.status == Case.Status.REPORT_READY
    assert (opinion.birads, opinion.radpeer, opinion.breast_density) == ("", "", "")
    assert opinion.meaning is None and not opinion.is_discordant


def test_a_both_case_needs_a_signed_reading_and_a_signed_consultation(client, alice):
    case = breast_case(alice, review_type="both", clinical_specialty="oncologist")
    bea, kim = imager(), oncologist()

    reading = services.claim_case(case, reviewer=bea, by=bea.user)
    assert reading.role == Opinion.Role.READING
    services.file_blind_read(
        reading, by=bea.user, findings="F.", impression="I.", birads="4A", breast_density="b"
    )
    services.grade_concordance(reading, by=bea.user, radpeer="1", patient_summary="Same.")
    services.sign_report(reading, by=bea.user, signed_name="Dr. Bea Imager")
    case.refresh_from_db()
    assert (case.status, case.assigned_reviewer) == (Case.Status.QUEUED, None)
    assert not Notification.objects.filter(kind=Notification.Kind.REPORT_READY).exists()
    with pytest.raises(services.ReviewError, match="not the kind of clinical specialist"):
        services.claim_case(case, reviewer=bea, by=bea.user)  # the second part is not hers

    consultation = services.claim_case(case, reviewer=kim, by=kim.user)
    assert consultation.role == Opinion.Role.CONSULTATION and consultation.round == 1
    services.file_consultation(
        consultation, by=kim.user, assessment="A.", recommendations="R.", patient_summary="S."
    )
    services.sign_report(consultation, by=kim.user, signed_name="Dr. Daniel Kim")
    case.refresh_from_db()
    assert case.status == Case.Status.REPORT_READY
    assert Notification.objects.filter(kind=Notification.Kind.REPORT_READY).count() == 1
    assert sorted(case.opinions.values_list("role", flat=True)) == ["consultation", "reading"]

    client.force_login(alice)
    page = client.get(reverse("requests:case-detail", args=[case.code])).content.decode()
    assert "Second opinion by Dr. Bea Imager" in page and "Consultation by Dr. Daniel Kim" in page
    assert "The specialist agrees with your first report." in page
    assert "You asked for a third opinion" not in page


def test_the_patients_named_clinician_holds_the_consultation_not_the_reading(alice):
    case = breast_case(alice, review_type="both", clinical_specialty="oncologist")
    bea, kim = imager(), oncologist()
    ReviewerChoice.objects.create(case=case, reviewer=kim)
    assert not services.reserved_for_another(case, bea)  # the reading is anyone's
    services.claim_case(case, reviewer=bea, by=bea.user)


# --- Licensure where the patient will be -------------------------------------------------------


def test_licensure_follows_where_the_patient_will_be_not_where_they_live(alice):
    case = make_case(alice, complete=True, patient_state="IL", opinion_state="CA")
    make_reviewer("il@example.com", "Dr. Ida Illinois", states=("IL",))
    make_reviewer("ca@example.com", "Dr. Cal Coast", states=("CA",))
    result = match_case(case)
    assert [c.reviewer.name for c in result.candidates] == ["Dr. Cal Coast"]
    assert "is not licensed in CA" in next(iter(result.excluded.values()))


def test_the_specialist_step_asks_where_the_patient_will_be(client, alice):
    case = make_case(alice, complete=True, opinion_state="")
    make_reviewer("ca@example.com", "Dr. Cal Coast", states=("CA",))
    client.force_login(alice)
    url = reverse("requests:case-step", args=[case.code, "specialist"])
    page = client.get(url).content.decode()
    assert "State you will be in when you receive the opinion" in page
    assert "Dr. Cal Coast" not in page  # the first guess is where Alice lives: Illinois
    assert "For an in-person visit, choose the state of the visit." in page
    answers = {
        "requested_subspecialty": "neuroradiology",
        "review_type": "radiology",
        "visit_mode": "remote",
        "opinion_state": "CA",
    }
    page = client.post(url, {**answers, "reviewer": "nobody"}).content.decode()
    assert "Dr. Cal Coast" in page  # the list follows the state just chosen
    client.post(url, {**answers, "reviewer": "first"})
    case.refresh_from_db()
    assert case.opinion_state == "CA"


# --- Credentials that lapse --------------------------------------------------------------------


def test_a_lapsed_licence_makes_a_reviewer_ineligible(alice):
    with time_machine.travel(at(DAY), tick=False):
        case = queued_case(alice)
        reader = make_reviewer("r@example.com", "Dr. Rae Reader")
        ReviewerLicense.objects.filter(reviewer=reader).update(expires_on=DAY + timedelta(days=10))
        assert reasons_not_eligible(case, reader) == []
    with time_machine.travel(at(DAY + timedelta(days=11)), tick=False):
        assert reasons_not_eligible(case, reader) == [
            "has no current licence in IL on record (lapsed or undated)"
        ]
        ReviewerLicense.objects.filter(reviewer=reader).update(expires_on=None)
        assert reasons_not_eligible(case, reader)


def test_lapsed_mqsa_dates_make_a_mammogram_reader_ineligible(alice):
    with time_machine.travel(at(DAY), tick=False):
        case = breast_case(alice)
        bea = imager(mqsa_continuing_education_due=DAY + timedelta(days=5))
        assert reasons_not_eligible(case, bea) == []
    with time_machine.travel(at(DAY + timedelta(days=6)), tick=False):
        assert reasons_not_eligible(case, bea) == [
            "has MQSA qualification that lapsed or lacks its continuing dates"
        ]


def test_a_tomosynthesis_study_needs_dbt_training(alice, tmp_path):
    case = validated_mammogram(alice, tmp_path)
    Instance.objects.filter(series__study__case=case).update(
        sop_class_uid="1.2.840.10008.5.1.4.1.1.13.1.3"
    )
    untrained = imager()
    assert reasons_not_eligible(case, untrained) == [
        "has no tomosynthesis (DBT) training on record"
    ]
    untrained.mqsa_dbt_trained_on = timezone.localdate() - timedelta(days=400)
    untrained.save(update_fields=["mqsa_dbt_trained_on"])
    assert reasons_not_eligible(case, untrained) == []


def test_a_credential_that_lapses_after_the_claim_stops_the_signature(alice):
    with time_machine.travel(at(DAY), tick=False):
        case = queued_case(alice)
        reader = make_reviewer("r@example.com", "Dr. Rae Reader")
        ReviewerLicense.objects.filter(reviewer=reader).update(expires_on=DAY + timedelta(days=2))
        opinion = services.claim_case(case, reviewer=reader, by=reader.user)
        services.file_blind_read(opinion, by=reader.user, findings="F.", impression="I.")
        services.grade_concordance(opinion, by=reader.user, radpeer="1", patient_summary="S.")
    with (
        time_machine.travel(at(DAY + timedelta(days=3)), tick=False),
        pytest.raises(services.ReviewError, match="You cannot sign now"),
    ):
        services.sign_report(opinion, by=reader.user, signed_name="Dr. Rae Reader")
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW


def test_coordinators_see_what_lapses_within_60_days(client, sam):
    with time_machine.travel(at(DAY), tick=False):
        soon = make_reviewer("soon@example.com", "Dr. Sunny Soon", states=("IL", "WI"))
        ReviewerLicense.objects.filter(reviewer=soon, state="WI").update(
            expires_on=DAY + timedelta(days=45)
        )
        later = make_reviewer("later@example.com", "Dr. Lou Later")
        ReviewerLicense.objects.filter(reviewer=later).update(expires_on=DAY + timedelta(days=90))
        imager(mqsa_continuing_experience_due=DAY + timedelta(days=30))

        found = [(lapse.reviewer, lapse.credential) for lapse in credentials.lapses(today=DAY)]
        assert found == [
            ("Dr. Bea Imager", "MQSA continuing experience"),
            ("Dr. Sunny Soon", "WI licence"),
        ]

        client.force_login(sam)
        dashboard = client.get(reverse("admin:requests_app_case_dashboard")).content.decode()
        assert "Dr. Sunny Soon" in dashboard and "WI licence: lapses on Apr 15, 2027" in dashboard
        assert "Dr. Lou Later" not in dashboard
        listed = client.get(
            reverse("admin:reviewers_reviewerprofile_changelist") + "?credentials=soon"
        ).content.decode()
        assert "Dr. Sunny Soon" in listed and "Dr. Bea Imager" in listed
        assert "Dr. Lou Later" not in listed


# --- Independence ------------------------------------------------------------------------------


def test_independence_is_checked_against_every_declared_workplace(alice):
    case = make_case(alice, complete=True, facility_name="Springfield General Hospital")
    make_reviewer(
        "two@example.com",
        "Dr. Two Places",
        institution="Lakeside University Hospital",
        affiliations="Prairie Imaging Group\nSpringfield General Hospital",
    )
    make_reviewer("free@example.com", "Dr. Free Agent", institution="Lakeside University Hospital")
    result = match_case(case)
    assert [c.reviewer.name for c in result.candidates] == ["Dr. Free Agent"]
    assert "works where the scan was done" in next(iter(result.excluded.values()))[0]


def test_the_patient_is_promised_only_what_is_checked(client, alice):
    case = make_case(alice, complete=True)
    make_reviewer("free@example.com", "Dr. Free Agent")
    client.force_login(alice)
    page = client.get(reverse("requests:case-step", args=[case.code, "specialist"]))
    text = page.content.decode()
    assert "independent of the place that did your scan" not in text
    assert "none of the places they told us they work is the place that did your scan" in text


def test_breast_imaging_is_not_called_a_board_certificate():
    assert "board-certified" not in WHY["breast"].lower()
    suggestion = suggest_subspecialty(exam_type="mammogram", body_region="breast", age=50)
    assert "fellowship-trained in breast imaging" in suggestion.why


def test_a_named_clinician_does_not_hide_the_reading_from_radiologists(client, alice):
    case = breast_case(alice, review_type="both", clinical_specialty="oncologist")
    ReviewerChoice.objects.create(case=case, reviewer=oncologist())
    bea = imager()
    other = make_reviewer(
        "dan@example.com",
        "Dr. Dana Other",
        subspecialties=("breast",),
        kind="clinical",
        clinical_specialty="oncologist",
    )
    client.force_login(bea.user)
    assert case.short_code in client.get(reverse("reviewers:portal")).content.decode()
    client.force_login(other.user)  # the consultation is the named oncologist's
    assert case.short_code not in client.get(reverse("reviewers:portal")).content.decode()
