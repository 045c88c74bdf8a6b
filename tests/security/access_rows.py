"""The access matrix's rows: every URL pattern of the project, how to fill its arguments from the
shared world of cases (tests/security/access_world.py), and what each role gets. Read by
tests/security/test_access_matrix.py, which explains the outcomes."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.test import Client
from django.urls import reverse

if TYPE_CHECKING:
    from tests.security.access_world import World


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
    "share_recipient",  # no account: entered the passcode of one of alice's shares
    # No account, no session: a DICOMweb bearer token of that share. Everywhere but /dicomweb/
    # it is anonymous.
    "dicomweb_token",
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
    if "dicomweb_token" not in overrides:
        expect["dicomweb_token"] = expect["anonymous"]
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
        "share_recipient": "login",
        "coordinator_no_mfa": "mfa",
    }
    return _row(kwargs, method, base, overrides)


def patient(kwargs, method="GET", **overrides) -> Row:
    """Alice's own case: hers alone; everybody else gets a 404, not a hint it exists."""
    base = dict.fromkeys(ROLES, "404") | {
        "alice": "allow",
        "anonymous": "login",
        "disabled": "login",
        "share_recipient": "login",
        "coordinator_no_mfa": "mfa",
    }
    return _row(kwargs, method, base, overrides)


def reviewer(kwargs, method="GET", **overrides) -> Row:
    """The reviewer portal's pages of a case: the reviewer who holds it, nobody else."""
    base = dict.fromkeys(ROLES, "404") | {
        "reviewer": "allow",
        "anonymous": "login",
        "disabled": "login",
        "share_recipient": "login",
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


def shared(kwargs, method="GET", **overrides) -> Row:
    """What a share's link serves once its passcode was entered: that session alone; everybody
    else, alice included, gets the same 404 as for a link that does not exist."""
    base = dict.fromkeys(ROLES, "404") | {"share_recipient": "allow", "coordinator_no_mfa": "mfa"}
    return _row(kwargs, method, base, overrides)


def dicomweb(kwargs=None, **overrides) -> Row:
    """DICOMweb: a bearer token of the scope, and nothing else (sessions included), reads it."""
    base = dict.fromkeys(ROLES, "401") | {"dicomweb_token": "allow", "coordinator_no_mfa": "mfa"}
    return _row(kwargs, "GET", base, overrides | {"dicomweb_token": "allow"})


def viewer_dicomweb(kwargs) -> Row:
    """What the site's viewer reads over DICOMweb: a bearer token of the scope, or the session of
    a viewer opened in that scope (the reviewer holding the case, the share's recipient)."""
    expect = dicomweb(kwargs, reviewer="allow", share_recipient="allow").expect
    return Row(kwargs, expect, before=viewers_opened)


def admin_model(sample: str | None, *, coordinator: str = "allow") -> Row:
    """A ModelAdmin: its list, and the change page of `sample` (a world value) if given."""
    return admin_page({"sample": sample} if sample else {}, coordinator=coordinator)


def viewer_opened(client: Client, world: "World") -> None:
    client.get(reverse("reviewers:study-viewer", args=[world.values["reported"]]))


def viewers_opened(client: Client, world: "World") -> None:
    """The reviewer's viewer of the reported case and the share's: each role opens what it may."""
    viewer_opened(client, world)
    client.get(reverse("share-viewer", args=[world.values["share_token"]]))


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
    "dicomweb_token": "login",
    "disabled": "login",
    "share_recipient": "login",
}

DICOMWEB_INSTANCE = {"study": "study_uid", "series": "series_uid", "instance": "sop_uid"}

# One line per pattern (its name, or its route when it has none). Admin models are keyed
# "admin:<app_label>.<model_name>" and cover every URL under admin/<app_label>/<model_name>/.
ROWS: dict[str, Row] = {
    # Public pages and health.
    "landing": public(),
    "guide": public(),
    "healthz": public(),
    "favicon": public(),
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
    "account_confirm_login_code": public(
        anonymous="login", disabled="login", share_recipient="login"
    ),
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
    "requests:case-seen": patient({"code": "draft"}, "POST"),
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
    # No answer posted: the patient is sent back to the records step with a message.
    "records:study-person": patient({"code": "draft", "study": "draft_study"}, "POST"),
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
    "opinions:download-everything": patient({"code": "reported"}),
    "opinions:deidentified-make": patient({"code": "reported"}, "POST"),
    "opinions:deidentified": patient({"code": "reported", "copy": "deid_copy"}),
    # The patient's shares of the report, and what a share's link serves.
    "shares:list": patient({"code": "reported"}),
    "shares:revoke": patient({"code": "reported", "share": "share"}, "POST"),
    "shares:revoke-all": patient({"code": "reported"}, "POST"),
    # An empty form is refused (400) once the patient is through the access checks.
    "shares:send-to-doctor": patient({"code": "reported"}, "POST", alice="400"),
    # Without the passcode in the session, the link asks for it.
    "share-open": public({"token": "share_token"}),
    "share-report-pdf": shared({"token": "share_token", "opinion": "opinion"}),
    "share-study-zip": shared({"token": "share_token"}),
    "share-viewer": shared({"token": "share_token"}),
    "share-document": shared({"token": "share_token", "document": "report_doc"}),
    # The world's share was sent to a doctor, who may reply; an empty reply goes back to the page.
    "share-reply": shared({"token": "share_token"}, "POST"),
    # A DICOMweb token, shown once: to the share's recipient, and to the reviewer holding the case.
    "share-dicomweb-token": shared({"token": "share_token"}, "POST"),
    "reviewer-dicomweb-token": reviewer({"code": "reported"}, "POST"),
    # Live tokens, each revoked at once: the patient's for a share, the reviewer's for the case.
    "shares:dicomweb-token-revoke": patient(
        {"code": "reported", "share": "share", "token": "share_dicomweb_token"}, "POST"
    ),
    "reviewer-dicomweb-tokens": reviewer({"code": "reported"}),
    "reviewer-dicomweb-token-revoke": reviewer(
        {"code": "reported", "token": "reviewer_dicomweb_token"}, "POST"
    ),
    # DICOMweb, for the bearer token of alice's share of the reported case; what the viewer
    # reads, also for the session of a viewer opened in its scope.
    "dicomweb:studies": dicomweb(),
    "dicomweb:series": dicomweb(),
    "dicomweb:instances": dicomweb(),
    "dicomweb:study": dicomweb({"study": "study_uid"}),
    "dicomweb:study-metadata": dicomweb({"study": "study_uid"}),
    "dicomweb:study-series": dicomweb({"study": "study_uid"}),
    "dicomweb:study-instances": dicomweb({"study": "study_uid"}),
    "dicomweb:series-retrieve": dicomweb({"study": "study_uid", "series": "series_uid"}),
    "dicomweb:series-metadata": viewer_dicomweb({"study": "study_uid", "series": "series_uid"}),
    "dicomweb:series-instances": dicomweb({"study": "study_uid", "series": "series_uid"}),
    "dicomweb:instance": dicomweb(DICOMWEB_INSTANCE),
    "dicomweb:instance-metadata": viewer_dicomweb(DICOMWEB_INSTANCE),
    "dicomweb:frames": viewer_dicomweb(DICOMWEB_INSTANCE | {"frames": "one"}),
    "dicomweb:rendered": viewer_dicomweb(DICOMWEB_INSTANCE | {"frames": "one"}),
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
    "reviewers:case-seen": reviewer({"code": "reported"}, "POST"),
    "reviewers:case-claim": reviewer({"code": "reported"}, "POST"),
    "reviewers:case-release": reviewer({"code": "reported"}, "POST"),
    "reviewers:study-zip": reviewer({"code": "reported"}),
    "reviewers:study-viewer": reviewer({"code": "reported"}),
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
    "admin:requests_app_auditevent_case_history": admin_page({"pk": "reported_pk"}),
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
