"""The audit log: one record per read of a study, document, report or letter, refusals included,
and one per change a coordinator makes in the admin. Nobody edits or deletes it."""

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import reverse

from insurance.models import CaseInsurance, CoverageCheck, NetworkGapException, Payer
from insurance.seeding import seed_insurance
from insurance.services import refresh_coverage
from records.models import Series
from records.viewer import manifest as viewer_manifest
from requests_app.admin_audit import AuditedModelAdmin
from requests_app.models import AuditEvent, Case
from reviewers import services as reviewer_services
from reviewers.models import Opinion, Subspecialty
from tests.conftest import make_case, make_user
from tests.records.dicomweb_setup import viewer_frame
from tests.reviewers.conftest import make_reviewer, validated_case

Action = AuditEvent.Action
AUDITED_APPS = {"requests_app", "records", "insurance", "reviewers"}


@dataclass
class Signed:
    """Alice's brain MRI, read and signed by Rita, who still holds it."""

    case: Case
    opinion: Opinion

    @property
    def document(self):
        return self.case.documents.get()

    @property
    def series(self) -> Series:
        return Series.objects.filter(study__case=self.case).exclude(preview_key="").first()


def read_and_sign(case: Case, profile, *, radpeer: str = "1") -> Opinion:
    user = profile.user
    opinion = reviewer_services.claim_case(case, reviewer=profile, by=user)
    reviewer_services.file_blind_read(opinion, by=user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(
        opinion,
        by=user,
        radpeer=radpeer,
        comment="" if radpeer == "1" else "Differs.",
        patient_summary="Summary.",
    )
    reviewer_services.sign_report(opinion, by=user, signed_name=profile.display_name)
    case.refresh_from_db()
    return opinion


@pytest.fixture
def rita_profile(rita):
    """Rita (the shared neuroradiologist), licensed in Illinois where Alice lives."""
    return make_reviewer(rita.email, "Dr. Rita Novak", user=rita)


@pytest.fixture
def nils(db):
    """A second neuroradiologist: the third reader."""
    return make_reviewer("nils@example.com", "Dr. Nils Berg").user


@pytest.fixture
def signed(alice, rita_profile, tmp_path) -> Signed:
    case, _ = validated_case(alice, tmp_path)
    return Signed(case=case, opinion=read_and_sign(case, rita_profile))


@pytest.fixture
def mona(db):
    """A musculoskeletal radiologist: Alice's brain MRI is not in her queues."""
    return make_reviewer(
        "mona@example.com", "Dr. Mona Perez", subspecialties=("musculoskeletal",)
    ).user


def _read(client, url: str):
    response = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    return response


# (who reads, URL from the Signed case, target type, action); `mallory` is who is refused.
READS = {
    "patient document": (
        "alice",
        lambda s: reverse("records:document-download", args=[s.case.code, s.document.code]),
        "document",
        Action.DOWNLOAD,
    ),
    "patient report pdf": (
        "alice",
        lambda s: reverse("opinions:report-pdf", args=[s.case.code, s.opinion.code]),
        "opinion-report",
        Action.DOWNLOAD,
    ),
    "patient case page": (
        "alice",
        lambda s: reverse("requests:case-detail", args=[s.case.code]),
        "case-page",
        Action.VIEW,
    ),
    "reviewer study zip": (
        "rita",
        lambda s: reverse("reviewers:study-zip", args=[s.case.code]),
        "study",
        Action.DOWNLOAD,
    ),
    "reviewer viewer session": (
        "rita",
        lambda s: reverse("reviewers:study-viewer", args=[s.case.code]),
        "study-viewer",
        Action.VIEW,
    ),
    "reviewer case page": (
        "rita",
        lambda s: reverse("reviewers:case-detail", args=[s.case.code]),
        "reviewer-case-page",
        Action.VIEW,
    ),
    "reviewer document": (
        "rita",
        lambda s: reverse("reviewers:document-download", args=[s.case.code, s.document.code]),
        "document",
        Action.DOWNLOAD,
    ),
    "coordinator case page": (
        "sam",
        lambda s: reverse("admin:requests_app_case_change", args=[s.case.pk]),
        "case",
        Action.VIEW,
    ),
    "reviewer report pdf": (
        "rita",
        lambda s: reverse("reviewers:opinion-pdf", args=[s.case.code, s.opinion.code]),
        "opinion-report",
        Action.DOWNLOAD,
    ),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_each_read_writes_exactly_one_record(name, client, signed, request, rita_profile):
    who, url, target_type, action = READS[name]
    user = request.getfixturevalue(who)
    client.force_login(user)
    before = AuditEvent.objects.count()
    response = _read(client, url(signed))
    assert response.status_code == 200
    assert AuditEvent.objects.count() == before + 1
    record = AuditEvent.objects.latest("pk")
    assert (record.actor, record.action, record.target_type) == (user, action, target_type)
    assert (record.case_code, record.ip_address) == (signed.case.code, "127.0.0.1")
    assert record.at is not None


# Previews are shown by the pages above, which audit them; alone they are refused the same way.
PREVIEWS = {
    "patient series preview": (
        "alice",
        lambda s: reverse("records:series-preview", args=[s.case.code, s.series.code]),
        "series-preview",
        Action.VIEW,
    ),
    "reviewer series preview": (
        "rita",
        lambda s: reverse("reviewers:series-preview", args=[s.case.code, s.series.code]),
        "series-preview",
        Action.VIEW,
    ),
}
# The admin sends whoever is not staff to its login before any record is looked up.
REFUSABLE = sorted({**READS, **PREVIEWS}.keys() - {"patient case page", "coordinator case page"})


@pytest.mark.parametrize("name", REFUSABLE)
def test_a_refused_read_is_a_404_and_one_denied_record(name, client, signed, bob, mona):
    who, url, target_type, _ = {**READS, **PREVIEWS}[name]
    mallory = bob if who == "alice" else mona
    client.force_login(mallory)
    assert _read(client, url(signed)).status_code == 404
    record = AuditEvent.objects.get()
    expected = "reviewer-case-page" if name == "reviewer case page" else target_type
    assert (record.actor, record.action, record.target_type) == (
        mallory,
        Action.DENIED,
        expected,
    )
    assert record.case_code == signed.case.code


# Each page that shows a case's records, the URL of one of its thumbnails, what it shows.
PAGES = {
    "patient case page": (
        "alice",
        lambda s: reverse("requests:case-detail", args=[s.case.code]),
        lambda s: reverse("records:series-preview", args=[s.case.code, s.series.code]),
        lambda s: [f"opinion-report:{s.opinion.code}", *_series_shown(s)],
    ),
    "reviewer case page": (
        "rita",
        lambda s: reverse("reviewers:case-detail", args=[s.case.code]),
        lambda s: reverse("reviewers:series-preview", args=[s.case.code, s.series.code]),
        lambda s: _series_shown(s),
    ),
    "coordinator case page": (
        "sam",
        lambda s: reverse("admin:requests_app_case_change", args=[s.case.pk]),
        lambda s: reverse("admin:requests_app_case_preview", args=[s.case.pk, s.series.code]),
        lambda s: _series_shown(s),
    ),
}


def _series_shown(s: Signed) -> list[str]:
    series = Series.objects.filter(study__case=s.case).exclude(preview_key="")
    return sorted(f"series-preview:{code}" for code in series.values_list("code", flat=True))


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_page_view_is_one_record_naming_what_it_showed_not_one_per_thumbnail(
    name, client, signed, request, rita_profile
):
    who, page, thumbnail, shown = PAGES[name]
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert _read(client, thumbnail(signed)).status_code == 404  # not before the page
    assert client.get(page(signed)).status_code == 200
    for _ in range(3):
        assert _read(client, thumbnail(signed)).status_code == 200
    record = AuditEvent.objects.exclude(action=Action.DENIED).get()
    assert (record.actor, record.action, record.case_code) == (user, Action.VIEW, signed.case.code)
    assert sorted(record.shown) == sorted(shown(signed))


def test_templates_write_no_record_and_check_no_coverage(signed, rf, alice):
    """Views compute and audit; the templates of the case page only show what they are given."""
    seed_insurance()
    case = make_case(alice, complete=True)
    request = rf.get("/")
    request.user = alice
    for template in ("reviewers/_case_report.html", "insurance/_case_status.html"):
        for shown in (signed.case, case):
            render_to_string(template, {"case": shown, "request": request, "user": alice})
    assert not AuditEvent.objects.exists()
    assert not CoverageCheck.objects.exists()


def test_viewer_images_are_served_inside_the_one_audited_session(client, signed, rita):
    client.force_login(rita)
    series = viewer_manifest(signed.case)["series"][0]
    images = series["images"][:3]
    assert viewer_frame(client, images[0])[0].status_code == 401  # no session: no file, no record
    assert not AuditEvent.objects.exists()
    viewer = reverse("reviewers:study-viewer", args=[signed.case.code])
    assert _read(client, viewer).status_code == 200
    assert _read(client, series["metadata"]).status_code == 200
    for image in images:
        assert viewer_frame(client, image)[0].status_code == 200
    assert AuditEvent.objects.get().target_type == "study-viewer"


def test_the_third_reader_sees_the_earlier_report_and_that_read_is_recorded(
    client, alice, signed, nils
):
    case = signed.case
    Opinion.objects.filter(pk=signed.opinion.pk).update(radpeer="3b")
    reviewer_services.request_third_opinion(case, by=alice)
    third = reviewer_services.claim_case(case, reviewer=nils.reviewer_profile, by=nils)
    client.force_login(nils)
    page = reverse("reviewers:case-detail", args=[case.code])
    assert client.get(page).status_code == 200
    blind = AuditEvent.objects.get()  # the images only: the first report is not on the page
    assert not [item for item in blind.shown if item.startswith("opinion-report:")]

    reviewer_services.file_blind_read(third, by=nils, findings="F.", impression="I.")
    assert "Second opinion by Dr. Rita Novak" in client.get(page).content.decode()
    record = AuditEvent.objects.latest("pk")
    assert (record.actor, record.action) == (nils, Action.VIEW)
    assert f"opinion-report:{signed.opinion.code}" in record.shown


@pytest.fixture
def letters(alice):
    """Alice's draft with its coverage checked and a network gap exception letter."""
    case = make_case(alice, complete=True)
    gap = NetworkGapException.objects.create(
        case=case,
        subspecialty=Subspecialty.objects.get(slug="neuroradiology"),
        letter_text="Dear insurer,\n\nPlease cover this second opinion.",
    )
    refresh_coverage(case)
    return case, gap


@pytest.mark.parametrize("pdf", ["network-gap-letter", "cost-summary"])
def test_insurance_pdfs_are_one_record_per_read_and_per_refusal(client, alice, bob, letters, pdf):
    case, gap = letters
    args = [case.code, gap.code] if pdf == "network-gap-letter" else [case.code]
    url = reverse(f"insurance:{pdf}", args=args)
    client.force_login(alice)
    assert client.get(url).status_code == 200
    client.force_login(bob)
    assert client.get(url).status_code == 404
    assert list(AuditEvent.objects.order_by("pk").values_list("actor__email", "action")) == [
        ("alice@example.com", Action.DOWNLOAD),
        ("bob@example.com", Action.DENIED),
    ]
    assert set(AuditEvent.objects.values_list("case_code", flat=True)) == {case.code}


def test_the_coordinators_letter_download_is_one_record(client, sam, letters):
    case, gap = letters
    client.force_login(sam)
    url = reverse("admin:insurance_networkgapexception_letter", args=[gap.pk])
    assert client.get(url).status_code == 200
    record = AuditEvent.objects.get()
    assert (record.actor, record.action, record.case_code) == (sam, Action.DOWNLOAD, case.code)


# --- The admin ---------------------------------------------------------------------------------


def test_every_modeladmin_of_our_apps_is_audited():
    unaudited = sorted(
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in AUDITED_APPS and not isinstance(model_admin, AuditedModelAdmin)
    )
    assert not unaudited, f"Registered without AuditedModelAdmin: {unaudited}"


@pytest.fixture
def root(db):
    return make_user("root@example.com", is_staff=True, is_superuser=True)


def _payer_form(client, url: str, **fields) -> dict:
    """The add/change form of a payer as the page shows it, with `fields` typed in."""
    context = client.get(url).context
    data = {}
    for formset in context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({f"{management.prefix}-{k}": v for k, v in management.initial.items()})
        for form in formset.formset.forms:
            data.update({form.add_prefix(k): v for k, v in form.initial.items() if v is not None})
    form = context["adminform"].form
    data.update({k: v for k, v in form.initial.items() if v is not None})
    return {**data, **fields}


def test_admin_add_change_and_delete_are_one_record_each(client, root):
    client.force_login(root)
    add = reverse("admin:insurance_payer_add")
    client.post(add, _payer_form(client, add, name="Prairie Health", payer_id="PRH01"))
    payer = Payer.objects.get(name="Prairie Health")
    change = reverse("admin:insurance_payer_change", args=[payer.pk])
    client.post(change, _payer_form(client, change, phone="800-555-0100"))
    payer.refresh_from_db()
    assert payer.phone == "800-555-0100"
    delete = reverse("admin:insurance_payer_delete", args=[payer.pk])
    client.post(delete, {"post": "yes"})
    assert not Payer.objects.filter(pk=payer.pk).exists()

    records = AuditEvent.objects.order_by("pk")
    assert list(records.values_list("action", "target_type", "target_code")) == [
        (Action.ADD, "payer", str(payer.pk)),
        (Action.CHANGE, "payer", str(payer.pk)),
        (Action.DELETE, "payer", str(payer.pk)),
    ]
    assert {r.actor for r in records} == {root} and {r.case_code for r in records} == {None}


def test_delete_selected_is_one_record_per_row_and_no_action_record(client, root):
    doomed = [Payer.objects.create(name=f"Gone {n}") for n in range(2)]
    client.force_login(root)
    client.post(
        reverse("admin:insurance_payer_changelist"),
        {"action": "delete_selected", "_selected_action": [p.pk for p in doomed], "post": "yes"},
    )
    assert not Payer.objects.filter(pk__in=[p.pk for p in doomed]).exists()
    assert sorted(AuditEvent.objects.values_list("action", "target_code")) == sorted(
        (Action.DELETE, str(p.pk)) for p in doomed
    )


def test_an_admin_action_is_one_record_per_selected_row(client, sam, alice):
    seed_insurance()
    cases = [make_case(alice, complete=True) for _ in range(2)]
    rows = CaseInsurance.objects.filter(case__in=cases)
    client.force_login(sam)
    client.post(
        reverse("admin:insurance_caseinsurance_changelist"),
        {"action": "recheck_coverage", "_selected_action": [r.pk for r in rows]},
    )
    records = AuditEvent.objects.all()
    assert sorted((r.action, r.target_type, r.case_code) for r in records) == sorted(
        (Action.ADMIN_ACTION, "caseinsurance.recheck_coverage", c.code) for c in cases
    )
    assert {r.actor for r in records} == {sam}


def test_an_action_that_asks_for_details_first_is_recorded_once_applied(client, sam, alice):
    case = make_case(alice, complete=True, status=Case.Status.QUEUED, queue_id="neuroradiology")
    client.force_login(sam)
    changelist = reverse("admin:requests_app_case_changelist")
    chosen = {"action": "hold_action", "_selected_action": [case.pk]}
    assert client.post(changelist, chosen).status_code == 200  # the form asking why
    assert not AuditEvent.objects.exists()
    client.post(changelist, {**chosen, "apply": "1", "reason": "Waiting for the payer."})
    case.refresh_from_db()
    assert case.on_hold
    record = AuditEvent.objects.get()
    assert (record.action, record.target_type, record.case_code) == (
        Action.ADMIN_ACTION,
        "case.hold_action",
        case.code,
    )


def test_opening_a_case_record_in_the_admin_is_a_read(client, sam, alice):
    seed_insurance()
    case = make_case(alice, complete=True)
    client.force_login(sam)
    assert client.get(reverse("admin:requests_app_case_change", args=[case.pk])).status_code == 200
    insurance = CaseInsurance.objects.get(case=case)
    url = reverse("admin:insurance_caseinsurance_change", args=[insurance.pk])
    assert client.get(url).status_code == 200
    payer = Payer.objects.first()
    assert client.get(reverse("admin:insurance_payer_change", args=[payer.pk])).status_code == 200

    records = AuditEvent.objects.order_by("pk")
    assert list(records.values_list("action", "target_type", "case_code")) == [
        (Action.VIEW, "case", case.code),
        (Action.VIEW, "caseinsurance", case.code),
    ]  # a payer is not a patient's record


# --- The audit log itself ------------------------------------------------------------------------


@pytest.fixture
def logged(alice, bob):
    """Two records about two different cases."""
    mine, theirs = make_case(alice), make_case(bob)
    return [
        AuditEvent.objects.create(
            actor=alice, action=Action.VIEW, target_type="document", case_code=mine.code
        ),
        AuditEvent.objects.create(
            actor=bob, action=Action.VIEW, target_type="document", case_code=theirs.code
        ),
    ]


def test_nobody_edits_or_deletes_the_audit_log_in_the_admin(client, root, logged):
    record = logged[0]
    client.force_login(root)
    change = reverse("admin:requests_app_auditevent_change", args=[record.pk])
    delete = reverse("admin:requests_app_auditevent_delete", args=[record.pk])
    add = reverse("admin:requests_app_auditevent_add")
    assert client.post(change, {"action": "denied", "target_type": "x"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(add).status_code == 403
    assert client.post(add, {"action": "view", "target_type": "x"}).status_code == 403
    client.post(
        reverse("admin:requests_app_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )
    record.refresh_from_db()
    assert (record.action, record.target_type) == (Action.VIEW, "document")
    assert AuditEvent.objects.filter(pk__in=[r.pk for r in logged]).count() == 2


def test_coordinators_read_one_cases_audit_by_its_code(client, sam, logged):
    client.force_login(sam)
    url = reverse("admin:requests_app_auditevent_changelist")
    page = client.post(url, {"q": str(logged[0].case_code)}, follow=True)
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [logged[0]]
