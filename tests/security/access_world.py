"""The access matrix's world: one user per role and alice's cases in the states the rows need,
built once for tests/security/test_access_matrix.py."""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from insurance.models import CaseInsurance, CoverageCheck, NetworkGapException, Payer
from insurance.seeding import seed_insurance
from insurance.services import refresh_coverage
from records import export, facility_requests
from records import services as records_services
from records.dicomweb import tokens as dicomweb_tokens
from records.models import Instance, Series, Study
from requests_app import findings, shares
from requests_app.models import AuditEvent, Case, Notification, SlaTarget
from requests_app.roles import COORDINATORS
from reviewers import services as reviewer_services
from reviewers.models import RoutingRule, Subspecialty
from tests.conftest import authenticator_app, make_case, make_user, pdf_upload
from tests.reviewers.conftest import make_reviewer, validated_case


@dataclass
class World:
    users: dict[str, object]
    values: dict[str, object] = field(default_factory=dict)


def build_world(folder) -> World:
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
    draft_study = Study.objects.create(case=draft, upload=draft_upload, study_instance_uid="1.2.3")
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
    share = shares.send_to_doctor(
        reported, by=alice, doctor_name="Dr. Lee", doctor_email="lee@clinic.example"
    )
    deid_copy, _ = export.make_deidentified(reported)
    reported.refresh_from_db()
    contact = findings.record_contact(
        reported, by=users["coordinator"], party="patient", outcome="message"
    )
    series = Series.objects.filter(study__case=reported).exclude(preview_key="").first()
    instance = Instance.objects.filter(series__study__case=reported).select_related("series__study")
    instance = instance.first()
    dicomweb_token = dicomweb_tokens.issue_for_share(share.share)
    reviewer_token = dicomweb_tokens.issue_for_reviewer(reported, users["reviewer"])

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
        "draft_study": draft_study.code,
        "receiving": receiving.code,
        "part_file": part_file.code,
        "one": 1,
        "bad_token": "not-a-signed-token",
        "bad_uid": "zz",
        "bad_key": "no-such-key",
        "series": series.code,
        "rr": rr.code,
        "authorization": draft.authorizations.get().code,
        "rr_pk": str(rr.pk),
        "sla_pk": str(SlaTarget.objects.first().pk),
        "gap": gap.code,
        "opinion": opinion.code,
        "question": question.code,
        "share": share.share.code,
        "share_token": share.token,
        "dicomweb_token": dicomweb_token.token,
        "share_dicomweb_token": dicomweb_token.row.code,
        "reviewer_dicomweb_token": reviewer_token.row.code,
        "study_uid": instance.series.study.study_instance_uid,
        "series_uid": instance.series.series_instance_uid,
        "sop_uid": instance.sop_instance_uid,
        "deid_copy": deid_copy,
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
