"""Who may open what: every URL of the project, for every kind of user, in every state of a case.

`ROWS` has one line per URL pattern: how to fill its arguments from one shared world of cases,
and what each role gets. The pattern list comes from the URL resolver, so a new view without a
row fails `test_every_url_pattern_has_a_row`: nothing ships unchecked. Outcomes:

- allow: 2xx, or 3xx to a page that is not a login,
- 404 / 403,
- login: a redirect to the site's or the admin's login,
- mfa: a redirect to the second-factor pages (set one up, or use it for the admin),
- any other status by its number: 400 (the empty POST is not a valid form), 409 (the object is
  not in a state for it)... The request got past every access check, and its row says so.

Admin pages are grouped per ModelAdmin: its list and the change page of one sample object.

Two more dimensions, where access holes hide:
- `STATE_ROWS`: every reviewer-portal URL of a case, and the patient's reads of her records,
  in every status of the case (draft to closed) and every assignment state (unclaimed, claimed,
  released, reassigned), with the outcome computed from the rule "access follows the work";
- ownership: each role posts every admin form and every patient and reviewer form with the
  owner changed (another patient, another account, another case); no owner ever changes.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from insurance.models import CaseInsurance, CoverageCheck, NetworkGapException, Payer
from insurance.seeding import seed_insurance
from insurance.services import refresh_coverage
from records import facility_requests
from records import services as records_services
from records.models import Series, UploadFile
from requests_app import findings, triage
from requests_app.admin import CaseAdmin
from requests_app.admin_audit import owner_links
from requests_app.models import AuditEvent, Case, Notification, SlaTarget
from requests_app.roles import COORDINATORS
from reviewers import services as reviewer_services
from reviewers.forms import FIRST_AVAILABLE
from reviewers.models import ReviewerProfile, RoutingRule, Subspecialty
from tests.admin_pages import page_form_data
from tests.conftest import PASSWORD, authenticator_app, make_case, make_user, pdf_upload
from tests.reviewers.conftest import make_reviewer, validated_case

ROLES = (
    "anonymous",
    "alice",  # the patient who owns every case below
    "bob",  # another patient
    "coordinator",
    "coordinator_no_mfa",  # staff in the coordinators' group, no authenticator yet
    "reviewer",  # Dr. Nils Berg, holds alice's reported case (after it was taken from Rita)
    "other_reviewer",  # Dr. Mona Perez, musculoskeletal: the case is not in her queues
    "unassigned_reviewer",  # Dr. Rita Novak: claimed the case, then a coordinator reassigned it
    "superuser",
    "disabled",  # a superuser whose account was switched off while logged in
)


@dataclass(frozen=True)
class Row:
    """One URL pattern: its arguments (names of world values), method, and outcome per role."""

    kwargs: dict[str, str]
    expect: dict[str, str]
    method: str = "GET"
    # Run for each role before the request, e.g. open the viewer whose files are then fetched.
    before: Callable | None = None


def _row(kwargs, method, base: dict[str, str], overrides: dict[str, str]) -> Row:
    expect = {**base, **overrides}
    assert set(expect) == set(ROLES), sorted(set(expect) ^ set(ROLES))
    return Row(kwargs=kwargs or {}, expect=expect, method=method)


def public(kwargs=None, method="GET", **overrides) -> Row:
    """Open to everyone; reviewers and staff without a second factor are sent to set one up."""
    base = dict.fromkeys(ROLES, "allow") | {"coordinator_no_mfa": "mfa"}
    return _row(kwargs, method, base, overrides)


def signed_in(kwargs=None, method="GET", **overrides) -> Row:
    """Any logged-in user, about their own account (their list, their notifications...)."""
    base = dict.fromkeys(ROLES, "allow") | {
        "anonymous": "login",
        "disabled": "login",
        "coordinator_no_mfa": "mfa",
    }
    return _row(kwargs, method, base, overrides)


def patient(kwargs, method="GET", **overrides) -> Row:
    """Alice's own case: hers alone; everybody else gets a 404, not a hint it exists."""
    base = dict.fromkeys(ROLES, "404") | {
        "alice": "allow",
        "anonymous": "login",
        "disabled": "login",
        "coordinator_no_mfa": "mfa",
    }
    return _row(kwargs, method, base, overrides)


def reviewer(kwargs, method="GET", **overrides) -> Row:
    """The reviewer portal's pages of a case: the reviewer who holds it, nobody else."""
    base = dict.fromkeys(ROLES, "404") | {
        "reviewer": "allow",
        "anonymous": "login",
        "disabled": "login",
        "coordinator_no_mfa": "mfa",
    }
    return _row(kwargs, method, base, overrides)


def admin_page(kwargs=None, method="GET", **overrides) -> Row:
    """The coordinators' admin: staff with permission, in a session that used the second factor."""
    base = dict.fromkeys(ROLES, "login") | {
        "coordinator": "allow",
        "superuser": "allow",
        "coordinator_no_mfa": "mfa",
    }
    return _row(kwargs, method, base, overrides)


def admin_model(sample: str | None, *, coordinator: str = "allow") -> Row:
    """A ModelAdmin: its list, and the change page of `sample` (a world value) if given."""
    return admin_page({"sample": sample} if sample else {}, coordinator=coordinator)


def viewer_opened(client: Client, world: "World") -> None:
    client.get(reverse("reviewers:study-viewer", args=[world.values["reported"]]))


# Previews are served inside the session of the page that shows (and audits) them.
def case_page_opened(client: Client, world: "World") -> None:
    client.get(reverse("requests:case-detail", args=[world.values["reported"]]))


def reviewer_page_opened(client: Client, world: "World") -> None:
    client.get(reverse("reviewers:case-detail", args=[world.values["reported"]]))


def admin_page_opened(client: Client, world: "World") -> None:
    client.get(reverse("admin:requests_app_case_change", args=[world.values["reported_pk"]]))


# Recovery codes exist only once an authenticator app is set up and codes were generated.
RECOVERY_CODES_NOT_SET_UP = dict.fromkeys(ROLES, "404") | {
    "anonymous": "login",
    "disabled": "login",
}

# One line per pattern (its name, or its route when it has none). Admin models are keyed
# "admin:<app_label>.<model_name>" and cover every URL under admin/<app_label>/<model_name>/.
ROWS: dict[str, Row] = {
    # Public pages and health.
    "landing": public(),
    "guide": public(),
    "healthz": public(),
    # allauth: public pages, or pages about one's own account (login first).
    "account_login": public(),
    "account_signup": public(),
    "account_logout": public(coordinator_no_mfa="allow"),
    "account_inactive": public(),
    "account_reset_password": public(),
    "account_reset_password_done": public(),
    "account_reset_password_from_key": public({"uidb36": "bad_uid", "key": "bad_key"}),
    "account_reset_password_from_key_done": public(),
    "account_email_verification_sent": public(),
    "account_confirm_email": public({"key": "bad_key"}),
    # Only while a login by emailed code is under way; otherwise back to the login page.
    "account_confirm_login_code": public(anonymous="login", disabled="login"),
    "account_reauthenticate": signed_in(coordinator_no_mfa="allow"),
    "account_email": signed_in(),
    "account_change_password": signed_in(),
    "account_set_password": signed_in(),
    # The second-factor pages are where staff without one are sent, so they are open to them.
    "mfa_index": signed_in(coordinator_no_mfa="allow"),
    "mfa_authenticate": signed_in(coordinator_no_mfa="allow"),
    "mfa_reauthenticate": signed_in(coordinator_no_mfa="allow"),
    "mfa_activate_totp": signed_in(coordinator_no_mfa="allow"),
    "mfa_deactivate_totp": signed_in(alice="404", bob="404", coordinator_no_mfa="404"),
    "mfa_view_recovery_codes": signed_in(**RECOVERY_CODES_NOT_SET_UP),
    "mfa_generate_recovery_codes": signed_in(coordinator_no_mfa="allow"),
    "mfa_download_recovery_codes": signed_in(**RECOVERY_CODES_NOT_SET_UP),
    "mfa_list_webauthn": signed_in(coordinator_no_mfa="allow"),
    "mfa_add_webauthn": signed_in(coordinator_no_mfa="allow"),
    "mfa_reauthenticate_webauthn": signed_in(coordinator_no_mfa="allow"),
    "mfa_remove_webauthn": signed_in({"pk": "no_key"}, coordinator_no_mfa="allow"),
    "mfa_edit_webauthn": signed_in({"pk": "no_key"}, coordinator_no_mfa="allow"),
    # The patient's cases.
    "requests:case-list": signed_in(),
    "requests:case-new": signed_in(),
    "requests:case-detail": patient({"code": "draft"}),
    "requests:case-step": patient({"code": "draft", "step": "patient_step"}),
    "requests:case-submit": patient({"code": "draft"}, "POST"),
    "requests:case-message": patient({"code": "reported"}, "POST"),
    "requests:case-delete": patient({"code": "doomed"}, "POST"),
    "requests:authorization": patient({"code": "draft"}),
    "requests:authorization-pdf": patient({"code": "draft", "authorization": "authorization"}),
    "requests:authorization-revoke": patient(
        {"code": "draft", "authorization": "authorization"}, "POST"
    ),
    "notifications": signed_in(),
    "notifications-read": signed_in(method="POST"),
    "notification-read": patient({"code": "notification"}, "POST"),
    # Records: documents, images, the multipart upload protocol, previews.
    "records:document-add": patient({"code": "draft"}, "POST"),
    "records:document-download": patient({"code": "reported", "document": "report_doc"}),
    "records:document-delete": patient({"code": "draft", "document": "draft_doc"}, "POST"),
    "records:images-add": patient({"code": "draft"}, "POST"),
    "records:upload-delete": patient({"code": "draft", "upload": "draft_upload"}, "POST"),
    "records:upload-start": patient({"code": "draft"}, "POST"),
    "records:upload-detail": patient({"code": "draft", "upload": "draft_upload"}),
    "records:upload-files": patient({"code": "draft", "upload": "receiving"}, "POST"),
    # Its one file was announced but never sent, so the upload cannot be finished.
    "records:upload-finish": patient({"code": "draft", "upload": "finishing"}, "POST", alice="409"),
    "records:file-parts": patient({"code": "draft", "upload": "receiving", "file": "part_file"}),
    "records:file-part-sign": patient(
        {"code": "draft", "upload": "receiving", "file": "part_file", "number": "one"}
    ),
    # No parts named (nor sent): the file cannot be put together.
    "records:file-complete": patient(
        {"code": "draft", "upload": "receiving", "file": "part_file"}, "POST", alice="409"
    ),
    "records:file-abort": patient(
        {"code": "draft", "upload": "aborting", "file": "abort_file"}, "DELETE"
    ),
    # The part URL's signed token is the authority (no session needed); a forged one is refused.
    "records:part-put": patient(
        {"token": "bad_token"},
        "PUT",
        **(dict.fromkeys(ROLES, "403") | {"coordinator_no_mfa": "mfa"}),
    ),
    "records:series-preview": Row(
        {"code": "reported", "series": "series"},
        patient({}).expect,
        before=case_page_opened,
    ),
    "records:records-request-new": patient({"code": "draft"}),
    "records:records-request-detail": patient({"code": "draft", "records_request": "rr"}),
    "records:records-request-edit": patient({"code": "draft", "records_request": "rr"}),
    # An empty POST is not a valid signature, sending date, receipt date, extension or receipt:
    # 400.
    "records:records-request-sign": patient(
        {"code": "draft", "records_request": "rr"}, "POST", alice="400"
    ),
    "records:records-request-sent": patient(
        {"code": "draft", "records_request": "rr"}, "POST", alice="400"
    ),
    "records:records-request-receipt": patient(
        {"code": "draft", "records_request": "rr"}, "POST", alice="400"
    ),
    "records:records-request-extension": patient(
        {"code": "draft", "records_request": "rr"}, "POST", alice="400"
    ),
    "records:records-request-received": patient(
        {"code": "draft", "records_request": "rr"}, "POST", alice="400"
    ),
    "records:records-request-letter": patient({"code": "draft", "records_request": "rr"}),
    "records:records-request-escalation": patient({"code": "draft", "records_request": "rr"}),
    # Insurance.
    "insurance:coverage-preview": patient({"code": "draft"}, "POST"),
    "insurance:self-pay": patient({"code": "draft"}),
    "insurance:referral": patient({"code": "draft"}),
    "insurance:network-gap-request": patient({"code": "draft"}, "POST"),
    "insurance:network-gap-letter": patient({"code": "draft", "letter": "gap"}),
    "insurance:cost-summary": patient({"code": "draft"}),
    "insurance:good-faith-estimate": patient({"code": "draft"}),
    "insurance:itemized-statement": patient({"code": "reported"}),
    "insurance:third-opinion": patient({"code": "reported"}),
    # The patient's report.
    "opinions:report-pdf": patient({"code": "reported", "opinion": "opinion"}),
    "opinions:question-ask": patient({"code": "reported", "opinion": "opinion"}, "POST"),
    "opinions:third-opinion": patient({"code": "reported"}, "POST"),
    # The reviewer portal.
    "reviewers:portal": reviewer(
        {},
        other_reviewer="allow",
        unassigned_reviewer="allow",
        alice="403",
        bob="403",
        coordinator="403",
        superuser="403",
    ),
    "reviewers:case-detail": reviewer({"code": "reported"}),
    "reviewers:case-claim": reviewer({"code": "reported"}, "POST"),
    "reviewers:case-release": reviewer({"code": "reported"}, "POST"),
    "reviewers:study-zip": reviewer({"code": "reported"}),
    "reviewers:study-viewer": reviewer({"code": "reported"}),
    "reviewers:instance-file": Row(
        {"code": "reported", "file": "instance_file"},
        reviewer({}).expect,
        before=viewer_opened,
    ),
    "reviewers:series-preview": Row(
        {"code": "reported", "series": "series"},
        reviewer({}).expect,
        before=reviewer_page_opened,
    ),
    "reviewers:document-download": reviewer({"code": "reported", "document": "report_doc"}),
    # An empty reading, grade, consultation or signature is not a valid form: 400.
    "reviewers:read-file": reviewer({"code": "reported"}, "POST", reviewer="400"),
    "reviewers:read-grade": reviewer({"code": "reported"}, "POST", reviewer="400"),
    "reviewers:consult-file": reviewer({"code": "reported"}, "POST", reviewer="400"),
    "reviewers:read-sign": reviewer({"code": "reported"}, "POST", reviewer="400"),
    "reviewers:opinion-pdf": reviewer({"code": "reported", "opinion": "opinion"}),
    "reviewers:question-answer": reviewer({"code": "reported", "question": "question"}, "POST"),
    # The admin's own pages.
    "admin:index": admin_page(),
    # The admin's login is the site's (with its second factor); staff are sent on to the admin.
    "admin:login": admin_page(
        alice="403",
        bob="403",
        reviewer="403",
        other_reviewer="403",
        unassigned_reviewer="403",
    ),
    "admin:logout": public(method="POST"),
    "admin:password_change": admin_page(),
    "admin:password_change_done": admin_page(),
    "admin:autocomplete": admin_page(coordinator="403", superuser="403"),  # no search asked
    "admin:jsi18n": admin_page(),
    "admin:view_on_site": admin_page(
        {"content_type_id": "case_type", "object_id": "reported_pk"},
        coordinator="404",  # a case has no page on the site for staff to jump to
        superuser="404",
    ),
    "admin:app_list": admin_page({"app_label": "insurance_app"}),
    "admin/(?P<url>.*)$": admin_page({"url": "no_such_page"}, coordinator="404", superuser="404"),
    "admin:insurance_networkgapexception_letter": admin_page({"pk": "gap_pk"}),
    "admin:requests_app_case_dashboard": admin_page(),
    "admin:requests_app_case_preview": Row(
        {"pk": "reported_pk", "series": "series"},
        admin_page().expect,
        before=admin_page_opened,
    ),
    # One row per ModelAdmin: its list and one object's change page.
    "admin:auth.group": admin_model("group", coordinator="403"),
    "admin:auth.user": admin_model("alice_pk", coordinator="403"),
    "admin:account.emailaddress": admin_model("email_pk", coordinator="403"),
    "admin:mfa.authenticator": admin_model("authenticator_pk", coordinator="403"),
    "admin:django_celery_beat.periodictask": admin_model(None, coordinator="403"),
    "admin:django_celery_beat.clockedschedule": admin_model(None, coordinator="403"),
    "admin:django_celery_beat.crontabschedule": admin_model(None, coordinator="403"),
    "admin:django_celery_beat.solarschedule": admin_model(None, coordinator="403"),
    "admin:django_celery_beat.intervalschedule": admin_model(None, coordinator="403"),
    "admin:requests_app.case": admin_model("reported_pk"),
    "admin:requests_app.caseevent": admin_model("event_pk"),
    "admin:requests_app.authorization": admin_model("authorization_pk"),
    "admin:requests_app.auditevent": admin_model("audit_pk"),
    "admin:requests_app.slatarget": admin_model("sla_pk"),
    "admin:requests_app.findingcontact": admin_model("contact_pk"),
    "admin:records.document": admin_model("report_doc_pk"),
    "admin:records.recordsrequest": admin_model("rr_pk"),
    "admin:records.upload": admin_model("draft_upload_pk"),
    "admin:records.uploadfile": admin_model("part_file_pk"),
    "admin:insurance.payer": admin_model("payer_pk"),
    "admin:insurance.plan": admin_model("plan_pk"),
    "admin:insurance.serviceprice": admin_model("price_pk"),
    "admin:insurance.coveragecheck": admin_model("check_pk"),
    "admin:insurance.priorauthorization": admin_model(None),
    "admin:insurance.casereferral": admin_model(None),
    "admin:insurance.networkgapexception": admin_model("gap_pk"),
    "admin:insurance.goodfaithestimate": admin_model(None),
    "admin:insurance.caseinsurance": admin_model("insurance_pk"),
    "admin:reviewers.subspecialty": admin_model("subspecialty_pk"),
    "admin:reviewers.reviewerprofile": admin_model("profile_pk"),
    "admin:reviewers.caseassignment": admin_model("queued_pk"),
    "admin:reviewers.opinion": admin_model("opinion_pk"),
    "admin:reviewers.reviewerchoice": admin_model(None),
    "admin:reviewers.followupquestion": admin_model("question_pk"),
    "admin:reviewers.routingrule": admin_model("rule_pk", coordinator="403"),
}


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield prefix + str(entry.pattern), name


def _admin_models() -> dict[str, str]:
    """URL prefix of each registered ModelAdmin -> its row key."""
    return {
        f"admin/{m._meta.app_label}/{m._meta.model_name}/": (
            f"admin:{m._meta.app_label}.{m._meta.model_name}"
        )
        for m in admin.site._registry
    }


def row_key(route: str, name: str | None) -> str:
    if name in ROWS:
        return name
    for prefix, key in _admin_models().items():
        if route.startswith(prefix):
            return key
    return name or route


def resolver_keys() -> set[str]:
    return {row_key(route, name) for route, name in _walk(get_resolver().url_patterns)}


def test_every_url_pattern_has_a_row():
    missing = sorted(resolver_keys() - set(ROWS))
    assert not missing, f"URL patterns without a row in ROWS: {missing}"


def test_every_row_is_a_url_pattern():
    assert not sorted(set(ROWS) - resolver_keys())


# --- The world ---------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, object]
    values: dict[str, object] = field(default_factory=dict)


def _build_world(folder) -> World:
    """Alice's cases in the states the rows need, and one user per role."""
    coordinators = Group.objects.get(name=COORDINATORS)
    alice = make_user("alice@example.com", first_name="Alice", last_name="Moreau")
    users = {
        "alice": alice,
        "bob": make_user("bob@example.com", first_name="Bob", last_name="Tanaka"),
        "coordinator": make_user("sam@example.com", is_staff=True),
        "coordinator_no_mfa": make_user("cory@example.com", is_staff=True),
        "reviewer": make_reviewer("nils@example.com", "Dr. Nils Berg").user,
        "other_reviewer": make_reviewer(
            "mona@example.com", "Dr. Mona Perez", subspecialties=("musculoskeletal",)
        ).user,
        "unassigned_reviewer": make_reviewer("rita@example.com", "Dr. Rita Novak").user,
        "superuser": make_user("root@example.com", is_staff=True, is_superuser=True),
        "disabled": make_user("gone@example.com", is_staff=True, is_superuser=True),
    }
    users["coordinator"].groups.add(coordinators)
    users["coordinator_no_mfa"].groups.add(coordinators)
    get_user_model().objects.filter(pk=users["disabled"].pk).update(is_active=False)
    seed_insurance()

    # A draft with a document, a finished upload and one still receiving parts.
    draft = make_case(alice, complete=True)
    draft_doc = records_services.add_document(
        draft, by=alice, kind="original_report", uploaded=pdf_upload("old-report.pdf")
    )
    draft_upload = records_services.start_upload(draft, by=alice)
    receiving = records_services.start_upload(draft, by=alice)
    part_file = records_services.start_file(receiving, relative_path="IM0001", size=1000)
    # Rows that delete stored files get their own: storage is not rolled back with the rows.
    doomed = make_case(alice, complete=True)
    finishing = records_services.start_upload(draft, by=alice)
    records_services.start_file(finishing, relative_path="IM0001", size=1000)
    aborting = records_services.start_upload(draft, by=alice)
    abort_file = records_services.start_file(aborting, relative_path="IM0001", size=1000)
    gap = NetworkGapException.objects.create(
        case=draft,
        subspecialty=Subspecialty.objects.get(slug="neuroradiology"),
        letter_text="Dear insurer,\n\nPlease cover this second opinion.",
    )
    refresh_coverage(draft)
    rr = facility_requests.create_draft(
        draft, by=alice, fields=facility_requests.initial_values(draft)
    )

    # A reported case: Rita claimed it, a coordinator handed it to Nils, who read and signed.
    reported, _ = validated_case(alice, folder)
    rita = users["unassigned_reviewer"].reviewer_profile
    nils = users["reviewer"].reviewer_profile
    reviewer_services.claim_case(reported, reviewer=rita, by=rita.user)
    reviewer_services.assign_case(reported, reviewer=nils, by=users["coordinator"])
    opinion = reviewer_services.open_opinion(reported, nils)
    reviewer_services.file_blind_read(opinion, by=nils.user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(
        opinion, by=nils.user, radpeer="1", patient_summary="Reassuring."
    )
    reviewer_services.sign_report(
        opinion,
        by=nils.user,
        signed_name="Dr. Nils Berg",
        urgent_finding=True,
        urgent_finding_note="Call about the mass.",
    )
    question = reviewer_services.ask_question(opinion, by=alice, text="What next?")
    reported.refresh_from_db()
    contact = findings.record_contact(
        reported, by=users["coordinator"], party="patient", outcome="message"
    )
    series = Series.objects.filter(study__case=reported).exclude(preview_key="").first()
    instance_file = UploadFile.objects.filter(instances__series__study__case=reported).first()

    queued = make_case(alice, complete=True, status=Case.Status.QUEUED, queue_id="breast")
    # Moved through every status and assignment state by `test_access_in_every_state`.
    states, _ = validated_case(alice, folder / "states")
    notification = Notification.objects.create(
        user=alice, case=reported, kind=Notification.Kind.choices[0][0], title="News"
    )
    audit = AuditEvent.objects.create(action=AuditEvent.Action.VIEW, target_type="test")
    values = {
        "states": states.code,
        "states_pk": str(states.pk),
        "draft": draft.code,
        "doomed": doomed.code,
        "finishing": finishing.code,
        "aborting": aborting.code,
        "abort_file": abort_file.code,
        "reported": reported.code,
        "notification": notification.code,
        "patient_step": "patient",
        "draft_doc": draft_doc.code,
        "report_doc": reported.documents.get().code,
        "draft_upload": draft_upload.code,
        "receiving": receiving.code,
        "part_file": part_file.code,
        "one": 1,
        "bad_token": "not-a-signed-token",
        "bad_uid": "zz",
        "bad_key": "no-such-key",
        "series": series.code,
        "instance_file": instance_file.code,
        "rr": rr.code,
        "authorization": draft.authorizations.get().code,
        "rr_pk": str(rr.pk),
        "sla_pk": str(SlaTarget.objects.first().pk),
        "gap": gap.code,
        "opinion": opinion.code,
        "question": question.code,
        "no_key": 999999,
        "case_type": str(_content_type_id(Case)),
        "reported_pk": str(reported.pk),
        "insurance_app": "insurance",
        "no_such_page": "nothing/here/",
        "gap_pk": gap.pk,
        "group": str(coordinators.pk),
        "alice_pk": str(alice.pk),
        "email_pk": str(alice.emailaddress_set.get().pk),
        "authenticator_pk": str(authenticator_app(users["coordinator"]).pk),
        "event_pk": str(reported.events.first().pk),
        "authorization_pk": str(reported.authorizations.first().pk),
        "audit_pk": str(audit.pk),
        "report_doc_pk": str(reported.documents.get().pk),
        "draft_upload_pk": str(draft_upload.pk),
        "part_file_pk": str(part_file.pk),
        "payer_pk": str(Payer.objects.first().pk),
        "plan_pk": str(Payer.objects.first().plans.first().pk),
        "price_pk": str(_first_price().pk),
        "check_pk": str(CoverageCheck.objects.filter(case=draft).first().pk),
        "insurance_pk": str(CaseInsurance.objects.get(case=draft).pk),
        "subspecialty_pk": str(Subspecialty.objects.get(slug="neuroradiology").pk),
        "profile_pk": str(nils.pk),
        "queued_pk": str(queued.pk),
        "opinion_pk": str(opinion.pk),
        "question_pk": str(question.pk),
        "rule_pk": str(RoutingRule.objects.first().pk),
        "contact_pk": str(contact.pk),
    }
    return World(users=users, values=values)


def _content_type_id(model) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(model).pk


def _first_price():
    from insurance.models import ServicePrice

    return ServicePrice.objects.first()


@pytest.fixture(scope="module")
def storage_dirs(tmp_path_factory):
    return {
        "media": tmp_path_factory.mktemp("matrix-media"),
        "multipart": tmp_path_factory.mktemp("matrix-multipart"),
        "dicom": tmp_path_factory.mktemp("matrix-dicom"),
    }


def _storage_settings(dirs) -> dict:
    from django.conf import settings

    return {
        "MULTIPART_DIR": dirs["multipart"],
        "STORAGES": {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": dirs["media"], "base_url": None},
            },
        },
    }


@pytest.fixture(autouse=True)
def private_storage(settings, storage_dirs):
    """The world's files live for the whole module, like its rows."""
    for name, value in _storage_settings(storage_dirs).items():
        setattr(settings, name, value)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, storage_dirs):
    """Built once for the module and rolled back at its end; each test runs in a savepoint."""
    with (
        django_db_blocker.unblock(),
        override_settings(**_storage_settings(storage_dirs)),
        transaction.atomic(),
    ):
        built = _build_world(storage_dirs["dicom"])
        yield built
        transaction.set_rollback(True)


# --- Probing -----------------------------------------------------------------------------------


def log_in(role: str, world: World) -> Client:
    """A client logged in as the role; `force_login` includes the second factor (conftest)."""
    client = Client()
    if role == "coordinator_no_mfa":
        # A password login through the site's form: no authenticator, so no second factor.
        user = world.users[role]
        client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    elif role != "anonymous":
        client.force_login(world.users[role])
    return client


LOGIN_PATHS = ("/accounts/login/", "/admin/login/")
MFA_PREFIX = "/accounts/2fa/"


def outcome(response) -> str:
    status = response.status_code
    if status in (403, 404):
        return str(status)
    if 300 <= status < 400:
        path = urlsplit(response["Location"]).path
        if path.startswith(MFA_PREFIX):
            return "mfa"
        if path in LOGIN_PATHS:
            return "login"
        return "allow"
    if 200 <= status < 300:
        return "allow"
    return str(status)  # 400, 405, 409...: the request got past the access checks and was refused


def _urls(key: str, row: Row, world: World) -> list[str]:
    values = {name: world.values[value] for name, value in row.kwargs.items()}
    if key.startswith("admin:") and "." in key:
        app_label, model_name = key.removeprefix("admin:").split(".")
        urls = [reverse(f"admin:{app_label}_{model_name}_changelist")]
        if "sample" in values:
            urls.append(reverse(f"admin:{app_label}_{model_name}_change", args=[values["sample"]]))
        return urls
    if not re.match(r"^[\w:-]+$", key):  # an unnamed pattern: the admin's catch-all
        return [f"/admin/{values['url']}"]
    return [reverse(key, kwargs=values)]


def _request(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, data=b"", content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("key", sorted(ROWS))
def test_access(key, world, db):
    row = ROWS[key]
    wrong = []
    for role in ROLES:
        client = log_in(role, world)
        if row.before is not None:
            row.before(client, world)
        for url in _urls(key, row, world):
            with transaction.atomic():
                got = outcome(_request(client, row.method, url))
                transaction.set_rollback(True)  # what one role did is not there for the next
            if got != row.expect[role]:
                wrong.append(f"{role}: {row.method} {url} -> {got}, expected {row.expect[role]}")
    assert not wrong, "\n".join(wrong)


# --- Admin actions ------------------------------------------------------------------------------

# Every action of the coordinators' case list, posted for one case as the list page posts it.
# An action that asks for details first shows its form (allow); one that runs at once redirects
# back to the list (allow); anyone who is not a coordinator is sent to log in.
CASE_ACTIONS: dict[str, Row] = {
    name: admin_page({"sample": "reported_pk"})
    for name in (
        "ask_for_records_action",
        "message_patient_action",
        "reroute_action",
        "assign_action",
        "set_priority_action",
        "mark_urgent_action",
        "hold_action",
        "release_hold_action",
        "clear_flag_action",
        "record_contact_action",
        "close_action",
    )
}


def test_every_case_action_has_a_row():
    assert sorted(CaseAdmin.actions) == sorted(CASE_ACTIONS)


@pytest.mark.parametrize("action", sorted(CASE_ACTIONS))
def test_case_action_access(action, world, db):
    row = CASE_ACTIONS[action]
    url = reverse("admin:requests_app_case_changelist")
    data = {"action": action, "_selected_action": [world.values["reported_pk"]], "index": 0}
    wrong = []
    for role in ROLES:
        client = log_in(role, world)
        with transaction.atomic():
            got = outcome(client.post(url, data))
            transaction.set_rollback(True)
        if got != row.expect[role]:
            wrong.append(f"{role}: {action} -> {got}, expected {row.expect[role]}")
    assert not wrong, "\n".join(wrong)


# Admin actions post to their model's list: who may run each (a form first, then the service).
# Key: (model, action, world value of a selected row, a field of the action's form).
ADMIN_ACTIONS = {
    (
        "requests_app.authorization",
        "record_written_revocation",
        "authorization_pk",
        "received_on",
    ): dict.fromkeys(ROLES, "login")
    | {"coordinator": "allow", "superuser": "allow", "coordinator_no_mfa": "mfa"},
}


@pytest.mark.parametrize("key", sorted(ADMIN_ACTIONS))
def test_admin_action_access(key, world, db):
    model, action, sample, field_name = key
    app_label, model_name = model.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    data = {"action": action, "_selected_action": [world.values[sample]]}
    wrong = []
    for role, expected in ADMIN_ACTIONS[key].items():
        client = log_in(role, world)
        with transaction.atomic():
            response = client.post(url, data)
            # Allowed means the action's own form is shown; the admin refuses an action it does
            # not offer with a redirect back to the list.
            form_shown = response.status_code == 200 and f'name="{field_name}"' in (
                response.content.decode()
            )
            got = "allow" if form_shown else outcome(response)
            if got == "allow" and not form_shown:
                got = "refused"
            transaction.set_rollback(True)
        if got != expected:
            wrong.append(f"{role}: {action} -> {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


# --- Fields a patient does not own -------------------------------------------------------------

# Posted with every patient form: none of them may reach the case.
NOT_THE_PATIENTS = {
    "status": Case.Status.CLOSED,
    "assigned_reviewer": "",  # a real reviewer's id, and another patient's, in the test
    "queue": "breast",
    "priority": "2",
    "needs_coordinator": "on",
    "patient": "",
}
WIZARD = [
    (
        "patient",
        {"patient_name": "Alice Moreau", "patient_birth_date": "1971-04-02", "patient_state": "IL"},
    ),
    (
        "scan",
        {
            "exam_type": "mammogram",
            "body_region": "breast",
            "exam_date": "2026-10-14",
            "facility_name": "Springfield General Hospital",
        },
    ),
    ("question", {"reason": "treatment", "clinical_question": "Is surgery needed?"}),
    ("records", {"birads": "4A", "had_biopsy": "no"}),
    ("authorization", {"signed_name": "Alice Moreau", "agree": "on"}),
    (
        "insurance",
        {
            "plan_type": "medicare",
            "insurer_name": "Medicare",
            "member_id": "1EG4",
            "has_referral": "no",
        },
    ),
    (
        "specialist",
        {
            "requested_subspecialty": "breast",
            "review_type": "radiology",
            "visit_mode": "remote",
            "opinion_state": "IL",
            "reviewer": FIRST_AVAILABLE,
        },
    ),
    ("review", {}),
]


def _owned_fields(case: Case) -> dict:
    case.refresh_from_db()
    return {
        name: getattr(
            case, f"{name}_id" if name in ("assigned_reviewer", "queue", "patient") else name
        )
        for name in NOT_THE_PATIENTS
    }


def test_patient_forms_cannot_set_fields_the_patient_does_not_own(client, world, db):
    alice, bob = world.users["alice"], world.users["bob"]
    priya = make_reviewer("priya@example.com", "Dr. Priya Raman", subspecialties=("breast",))
    case = make_case(alice, complete=True)
    forbidden = {**NOT_THE_PATIENTS, "assigned_reviewer": str(priya.pk), "patient": str(bob.pk)}
    owned = _owned_fields(case)
    client.force_login(alice)

    for step, data in WIZARD:
        response = client.post(
            reverse("requests:case-step", args=[case.code, step]), {**data, **forbidden}
        )
        assert response.status_code == 302, (
            step,
            response.context and response.context["form"].errors,
        )
        assert _owned_fields(case) == owned, step

    assert (case.birads, case.requested_subspecialty_id) == ("4A", "breast")  # the steps saved

    documents = {"kind": "original_report", "file": pdf_upload()}
    others = [
        (reverse("records:document-add", args=[case.code]), documents),
        (reverse("records:images-add", args=[case.code]), {}),
        (reverse("insurance:coverage-preview", args=[case.code]), {"plan_type": "medicare"}),
        (
            reverse("insurance:referral", args=[case.code]),
            {"physician_name": "Dr. Lee", "physician_phone": "217-555-0100"},
        ),
        (reverse("insurance:network-gap-request", args=[case.code]), {}),
        # Original Medicare: paying oneself is signing the Advance Beneficiary Notice.
        (
            reverse("insurance:self-pay", args=[case.code]),
            {"option": "2", "signed_name": "Alice Moreau", "agree": "on"},
        ),
        (
            reverse("records:records-request-new", args=[case.code]),
            {
                "facility_name": "Springfield General Hospital",
                "exam_description": "Mammogram",
                "wants_report": "on",
                "delivery": "cd",
                "send_to": "12 Elm Street, Springfield, IL",
            },
        ),
        (reverse("requests:case-message", args=[case.code]), {"body": "A question."}),
    ]
    for url, data in others:
        response = client.post(url, {**data, **forbidden})
        assert response.status_code < 400, url
        assert _owned_fields(case) == owned, url


# --- Every status and assignment state ---------------------------------------------------------

NEURO_READERS = ("reviewer", "unassigned_reviewer")  # Nils and Rita read the case's queue
STATE_ROLES = ("alice", "bob", "reviewer", "other_reviewer", "unassigned_reviewer")


@dataclass(frozen=True)
class State:
    """Where the case is: its status, who holds it, how far their reading got."""

    status: str
    holder: str | None = None  # the role holding the case, if any
    blind: bool = True  # the holder has not filed their own reading yet
    signed: bool = False  # a report is signed (and the patient asked a question on it)

    def holds(self, role: str) -> bool:
        """Access follows the work: from the claim or assignment until release or close."""
        return self.holder == role and self.status != Case.Status.CLOSED

    def in_scope(self, role: str) -> bool:
        waiting = self.status == Case.Status.QUEUED and self.holder is None
        return self.holds(role) or (waiting and role in NEURO_READERS)


def _status(status: str):
    def move(case: Case, world: World) -> None:
        Case.objects.filter(pk=case.pk).update(status=status)

    return move


def _profile(world: World, role: str):
    return world.users[role].reviewer_profile


def _claimed(case: Case, world: World) -> None:
    nils = _profile(world, "reviewer")
    reviewer_services.claim_case(case, reviewer=nils, by=nils.user)


def _released(case: Case, world: World) -> None:
    nils = _profile(world, "reviewer")
    reviewer_services.claim_case(case, reviewer=nils, by=nils.user)
    reviewer_services.release_case(case, reviewer=nils, by=nils.user)


def _reassigned(case: Case, world: World) -> None:
    rita, nils = _profile(world, "unassigned_reviewer"), _profile(world, "reviewer")
    reviewer_services.claim_case(case, reviewer=rita, by=rita.user)
    reviewer_services.assign_case(case, reviewer=nils, by=world.users["coordinator"])


def _reported(case: Case, world: World) -> None:
    nils = _profile(world, "reviewer")
    opinion = reviewer_services.claim_case(case, reviewer=nils, by=nils.user)
    reviewer_services.file_blind_read(opinion, by=nils.user, findings="F.", impression="I.")
    reviewer_services.grade_concordance(
        opinion, by=nils.user, radpeer="1", patient_summary="Reassuring."
    )
    reviewer_services.sign_report(opinion, by=nils.user, signed_name="Dr. Nils Berg")
    reviewer_services.ask_question(opinion, by=world.users["alice"], text="What next?")


def _closed_after_the_report(case: Case, world: World) -> None:
    _reported(case, world)
    triage.close_case(case, by=world.users["coordinator"], reason="Report read.")


def _closed_in_review(case: Case, world: World) -> None:
    _claimed(case, world)
    triage.close_case(case, by=world.users["coordinator"], reason="Withdrawn.")


# The case's states: how to bring it there from "queued, unclaimed", and what holds then.
STATES: dict[str, tuple[Callable, State]] = {
    "draft": (_status(Case.Status.DRAFT), State(Case.Status.DRAFT)),
    "submitted": (_status(Case.Status.SUBMITTED), State(Case.Status.SUBMITTED)),
    "needs records": (_status(Case.Status.NEEDS_RECORDS), State(Case.Status.NEEDS_RECORDS)),
    "awaiting insurance": (
        _status(Case.Status.AWAITING_INSURANCE),
        State(Case.Status.AWAITING_INSURANCE),
    ),
    "queued, unclaimed": (lambda case, world: None, State(Case.Status.QUEUED)),
    "in review, claimed": (_claimed, State(Case.Status.IN_REVIEW, holder="reviewer")),
    "queued, released": (_released, State(Case.Status.QUEUED)),
    "in review, reassigned": (_reassigned, State(Case.Status.IN_REVIEW, holder="reviewer")),
    "report ready": (
        _reported,
        State(Case.Status.REPORT_READY, holder="reviewer", blind=False, signed=True),
    ),
    "closed after the report": (
        _closed_after_the_report,
        State(Case.Status.CLOSED, holder="reviewer", blind=False, signed=True),
    ),
    "closed in review": (_closed_in_review, State(Case.Status.CLOSED, holder="reviewer")),
}


@dataclass(frozen=True)
class StateRow:
    """A URL of the case: its other arguments, method, who may (role, state) -> bool, and what
    to open first in the same session."""

    kwargs: dict[str, str]
    may: Callable[[str, State], bool]
    method: str = "GET"
    before: str | None = None  # a URL name opened (GET) first, with the case's code
    # What a role that may use it gets: an empty POST to a form is refused as invalid (400).
    granted: str = "allow"


def _owner(role: str, state: State) -> bool:
    return role == "alice"


STATE_ROWS: dict[str, StateRow] = {
    # The patient's own records: hers in every state, nobody else's.
    "requests:case-detail": StateRow({}, _owner),
    "records:document-download": StateRow({"document": "doc"}, _owner),
    "records:series-preview": StateRow({"series": "series"}, _owner, before="requests:case-detail"),
    "opinions:report-pdf": StateRow(
        {"opinion": "opinion"}, lambda role, state: role == "alice" and state.signed
    ),
    # The reviewer portal: the question while it waits in the queue, the images from the claim
    # until release, reassignment or close, the records once the reviewer's own reading is in.
    "reviewers:case-detail": StateRow({}, lambda role, state: state.in_scope(role)),
    "reviewers:case-claim": StateRow({}, lambda role, state: state.in_scope(role), "POST"),
    "reviewers:case-release": StateRow({}, lambda role, state: state.in_scope(role), "POST"),
    "reviewers:study-zip": StateRow({}, lambda role, state: state.holds(role)),
    "reviewers:study-viewer": StateRow({}, lambda role, state: state.holds(role)),
    "reviewers:instance-file": StateRow(
        {"file": "instance_file"},
        lambda role, state: state.holds(role),
        before="reviewers:study-viewer",
    ),
    "reviewers:series-preview": StateRow(
        {"series": "series"},
        lambda role, state: state.holds(role),
        before="reviewers:case-detail",
    ),
    "reviewers:document-download": StateRow(
        {"document": "doc"}, lambda role, state: state.holds(role) and not state.blind
    ),
    "reviewers:read-file": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:read-grade": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:consult-file": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:read-sign": StateRow(
        {}, lambda role, state: state.holds(role), "POST", granted="400"
    ),
    "reviewers:opinion-pdf": StateRow(
        {"opinion": "opinion"}, lambda role, state: state.holds(role) and state.signed
    ),
    "reviewers:question-answer": StateRow(
        {"question": "question"}, lambda role, state: state.holds(role) and state.signed, "POST"
    ),
}


def test_every_case_url_of_the_reviewer_portal_has_a_state_row():
    """A new reviewer view of a case fails here until its rule for every state is written."""
    case_urls = {
        name
        for route, name in _walk(get_resolver().url_patterns)
        if name and name.startswith("reviewers:") and "<uuid:code>" in route
    }
    assert not sorted(case_urls - set(STATE_ROWS))
    assert not sorted(set(STATE_ROWS) - {name for _, name in _walk(get_resolver().url_patterns)})


def _state_values(case: Case) -> dict[str, object]:
    opinion = case.opinions.filter(signed_at__isnull=False).first()
    question = opinion.questions.first() if opinion else None
    missing = "00000000-0000-4000-8000-000000000000"  # none yet: the URL names nothing
    return {
        "doc": case.documents.get().code,
        "series": Series.objects.filter(study__case=case).exclude(preview_key="").first().code,
        "instance_file": UploadFile.objects.filter(instances__series__study__case=case)
        .first()
        .code,
        "opinion": opinion.code if opinion else missing,
        "question": question.code if question else missing,
    }


@pytest.mark.parametrize("state_name", list(STATES))
def test_access_in_every_state(state_name, world, db):
    move, state = STATES[state_name]
    case = Case.objects.get(code=world.values["states"])
    move(case, world)
    case.refresh_from_db()
    assert case.status == state.status, "the state's setup went somewhere else"
    values = _state_values(case)
    wrong = []
    for role in STATE_ROLES:
        for name, row in STATE_ROWS.items():
            client = log_in(role, world)
            if row.before:
                client.get(reverse(row.before, args=[case.code]))
            kwargs = {"code": case.code} | {k: values[v] for k, v in row.kwargs.items()}
            url = reverse(name, kwargs=kwargs)
            with transaction.atomic():
                got = outcome(_request(client, row.method, url))
                transaction.set_rollback(True)
            expected = row.granted if row.may(role, state) else "404"
            if got != expected:
                wrong.append(f"{role}: {row.method} {name} -> {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


# --- Ownership never changes -------------------------------------------------------------------


def _owner_snapshot(world: World) -> dict[tuple[str, str, str], object]:
    """Every owner link of every admin sample row, and of the case's own patient."""
    found = {}
    for key, row in ROWS.items():
        if not (key.startswith("admin:") and "." in key and "sample" in row.kwargs):
            continue
        model = _admin_model(key)
        obj = model._default_manager.get(pk=world.values[row.kwargs["sample"]])
        for name in owner_links(model):
            found[(key, str(obj.pk), name)] = getattr(obj, model._meta.get_field(name).attname)
    return found


def _admin_model(key: str):
    app_label, model_name = key.removeprefix("admin:").split(".")
    return next(
        m
        for m in admin.site._registry
        if (m._meta.app_label, m._meta.model_name) == (app_label, model_name)
    )


def _someone_else(model, name: str, current, world: World) -> str:
    """Another owner for the link: Bob for a person, another row for a case, an upload..."""
    target = model._meta.get_field(name).related_model
    if target is get_user_model():
        return str(world.users["bob"].pk)
    other = target._default_manager.exclude(pk=current).order_by("pk").first()
    return str(other.pk) if other else ""


def _admin_forms(world: World) -> list[tuple[str, dict]]:
    """Every admin change form with an owner link, as posted back with each owner changed."""
    root = log_in("superuser", world)
    posts = []
    for key, row in ROWS.items():
        if not (key.startswith("admin:") and "." in key and "sample" in row.kwargs):
            continue
        model = _admin_model(key)
        links = owner_links(model)
        if not links:
            continue
        obj = model._default_manager.get(pk=world.values[row.kwargs["sample"]])
        url = _urls(key, row, world)[1]
        changes = {
            name: _someone_else(
                model, name, getattr(obj, model._meta.get_field(name).attname), world
            )
            for name in links
        }
        posts.append((url, page_form_data(root, url, **changes)))
    add = reverse("admin:reviewers_reviewerprofile_add")
    posts.append(
        (
            add,
            page_form_data(
                root,
                add,
                user=str(world.users["bob"].pk),
                email="new-reviewer@example.com",
                display_name="Dr. New",
                subspecialties=["neuroradiology"],
            ),
        )
    )
    return posts


def _patient_and_reviewer_forms(world: World) -> list[tuple[str, dict]]:
    """Alice's and Nils's own forms, each posted with owner fields the form must not take."""
    bob, mona = world.users["bob"], world.users["other_reviewer"]
    owners = {
        "patient": str(bob.pk),
        "user": str(bob.pk),
        "assigned_reviewer": str(mona.reviewer_profile.pk),
        "reviewer": str(mona.reviewer_profile.pk),
        "case": world.values["queued_pk"],
    }
    draft, reported = world.values["draft"], world.values["reported"]
    posts = [
        (reverse("requests:case-step", args=[draft, step]), {**data, **owners})
        for step, data in WIZARD
    ]
    posts += [
        (reverse(name, args=[reported]), {"body": "Hello.", "findings": "F.", **owners})
        for name in (
            "requests:case-message",
            "opinions:third-opinion",
            "reviewers:read-file",
            "reviewers:read-grade",
            "reviewers:read-sign",
            "reviewers:case-claim",
        )
    ]
    posts.append(
        (
            reverse("opinions:question-ask", args=[reported, world.values["opinion"]]),
            {"question": "Why?", **owners},
        )
    )
    posts.append(
        (
            reverse("reviewers:question-answer", args=[reported, world.values["question"]]),
            {"answer": "Because.", **owners},
        )
    )
    return posts


@pytest.mark.parametrize("role", ROLES)
def test_no_role_changes_an_owner_through_any_form(role, world, db):
    before = _owner_snapshot(world)
    patient_of = dict(Case.objects.values_list("pk", "patient_id"))
    profiles = dict(ReviewerProfile.objects.values_list("pk", "user_id"))
    posts = _admin_forms(world) + _patient_and_reviewer_forms(world)
    client = log_in(role, world)
    for url, data in posts:
        client.post(url, data)
    assert _owner_snapshot(world) == before
    assert dict(Case.objects.values_list("pk", "patient_id")) == patient_of
    after = dict(ReviewerProfile.objects.values_list("pk", "user_id"))
    assert {pk: after.get(pk) for pk in profiles} == profiles
    bob = world.users["bob"]
    assert not ReviewerProfile.objects.filter(user=bob).exists()
