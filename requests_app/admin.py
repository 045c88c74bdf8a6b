"""The coordinators' desk in the admin: triage list, case page with everything about a case,
actions that call the services, and a dashboard of queues and clocks."""

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.admin import AuthenticatorAdmin
from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from insurance.assignment import assign_case, reviewer_options
from records.admin import RecordsRequestInline
from records.models import Series, Study, UploadProblem
from records.views import audited_preview
from reviewers import services as reviewer_services
from reviewers.routing import NEEDS_COORDINATOR_BELOW

from . import (
    admin_auditlog,  # noqa: F401  (registers the audit log's admin)
    dashboard,
    findings,
    messaging,
    services,
    sla,
    triage,
)
from . import admin_forms as forms
from .admin_actions import run_each
from .admin_audit import AuditedModelAdmin, OwnerLinksReadOnly
from .admin_inlines import (
    AuthorizationInline,
    CaseEventInline,
    DocumentInline,
    FindingContactInline,
    InsuranceInline,
    MessageInline,
    NetworkGapInline,
    OpinionInline,
    PriorAuthorizationInline,
    ReferralInline,
    StudyInline,
    UploadInline,
)
from .admin_search import PrivateSearchChangeList
from .models import (
    AuditEvent,
    Authorization,
    Case,
    CaseEvent,
    FindingContact,
    Priority,
    SlaTarget,
)
from .services import revoke_authorization


class FlagFilter(admin.SimpleListFilter):
    """What needs a coordinator now: the flags the machine raised and the waits it cannot end."""

    title = "flag"
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in FLAGS.items()]

    def queryset(self, request, queryset):
        if self.value() in FLAGS:
            return queryset.filter(FLAGS[self.value()][1])
        return queryset


class SlaFilter(admin.SimpleListFilter):
    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return sla.State.choices

    def queryset(self, request, queryset):
        if self.value() in dict(sla.State.choices):
            return queryset.filter(sla.state_filter(self.value(), now=timezone.now()))
        return queryset


# Validation problems that mean the images may not be this patient's.
MISMATCH_CODES = ("patient_mismatch", "multiple_patients")
MISMATCH = Exists(
    UploadProblem.objects.filter(upload__case=OuterRef("pk"), code__in=MISMATCH_CODES)
)
# From this many cases on, the unfiltered list counts them from the table's statistics.
ESTIMATED_COUNT_FROM = 50_000
# Flag key -> (label, the cases that carry it).
FLAGS = {
    "coordinator": ("Needs a coordinator", Q(needs_coordinator=True)),
    "routing": (
        "Routing unsure or conflicting",
        Q(needs_coordinator=True, routing_confidence__lt=NEEDS_COORDINATOR_BELOW),
    ),
    "mismatch": ("Patient mismatch", Q(MISMATCH)),
    "records": ("Missing records", Q(status=Case.Status.NEEDS_RECORDS)),
    "insurance": ("Insurance pending", Q(status=Case.Status.AWAITING_INSURANCE)),
    "hold": ("On hold", Q(on_hold=True)),
    "urgent_finding": ("Urgent finding: call the patient and their doctor", findings.URGENT_OPEN),
    "result_due": ("Suspicious result: deliver within 7 days", findings.RESULT_PENDING),
}


class CaseChangeList(PrivateSearchChangeList):
    """The triage list. Its flags that look into other tables (a patient mismatch among the
    uploads' problems, a result the patient has not opened in the audit log) are read for the
    page's cases alone, in one query: as columns of the list's own query, PostgreSQL works them
    out for every case in the table before it keeps the first fifty."""

    def get_results(self, request):
        super().get_results(request)
        shown = {case.pk: case for case in self.result_list}
        flags = Case.objects.filter(pk__in=shown).annotate(
            has_mismatch=MISMATCH,
            result_pending=ExpressionWrapper(findings.RESULT_PENDING, output_field=BooleanField()),
        )
        for pk, mismatch, pending in flags.values_list("pk", "has_mismatch", "result_pending"):
            shown[pk].has_mismatch, shown[pk].result_pending = mismatch, pending
        self.result_list = list(shown.values())


class CasePaginator(Paginator):
    """Pages of the triage list. With no filter, the cases are counted from the table's
    statistics once there are many of them: an exact count reads the whole table on every
    page view, and a list of 100,000 cases needs no exact total to be paged. Either way the
    count is one query, so the page costs as many queries with few cases as with many."""

    @cached_property
    def count(self) -> int:
        if connection.vendor != "postgresql" or self.object_list.query.where:
            return super().count
        table = connection.ops.quote_name(Case._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT CASE WHEN reltuples >= %s THEN reltuples::bigint"  # noqa: S608 (our table)
                f" ELSE (SELECT COUNT(*) FROM {table}) END FROM pg_class WHERE oid = %s::regclass",
                [ESTIMATED_COUNT_FROM, Case._meta.db_table],
            )
            return cursor.fetchone()[0]


@admin.register(Case)
class CaseAdmin(AuditedModelAdmin):
    """The coordinators' triage desk: what needs someone now, and the actions that move it."""

    list_display = [
        "short_code",
        "patient_name",
        "status",
        "queue",
        "priority_label",
        "flags",
        "in_status_for",
        "sla_due",
        "assigned_reviewer",
    ]
    list_filter = [
        "status",
        "queue",
        FlagFilter,
        "priority",
        SlaFilter,
        "exam_type",
        "review_type",
    ]
    list_select_related = ["queue", "assigned_reviewer"]
    search_fields = ["^code", "patient_name"]  # and an e-mail address or a study's UID, below
    ordering = ["-priority", F("sla_due_at").asc(nulls_last=True), "-created_at"]
    list_per_page = 50
    # Counting every case twice per page is what makes a long list slow.
    show_full_result_count = False
    paginator = CasePaginator
    actions = [
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
    ]
    readonly_fields = [
        "code",
        "status",
        "status_changed_at",
        "created_at",
        "updated_at",
        "submitted_at",
        "consent_at",
        # These change only through the triage actions and the reviewers' services.
        "queue",
        "assigned_reviewer",
        "priority",
        "on_hold",
        "hold_reason",
        "sla_due_at",
        "sla_escalated_at",
        "routing_confidence",
        "routing_reasons",
        "needs_coordinator",
        "urgent_finding_at",
        "urgent_finding_done_at",
        "urgent_finding_notes",
        "result_due_at",
        "result_delivered_at",
    ]
    inlines = [
        StudyInline,
        DocumentInline,
        RecordsRequestInline,
        InsuranceInline,
        PriorAuthorizationInline,
        ReferralInline,
        NetworkGapInline,
        OpinionInline,
        FindingContactInline,
        MessageInline,
        AuthorizationInline,
        UploadInline,
        CaseEventInline,
    ]
    fieldsets = [
        (None, {"fields": ["code", "status", "status_changed_at", "patient"]}),
        (
            "Triage",
            {
                "fields": [
                    "priority",
                    "on_hold",
                    "hold_reason",
                    "sla_due_at",
                    "sla_escalated_at",
                    "needs_coordinator",
                    "coordinator_note",
                    "routing_confidence",
                    "routing_reasons",
                ]
            },
        ),
        (
            "Findings to communicate",
            {
                "fields": [
                    "urgent_finding_at",
                    "urgent_finding_notes",
                    "urgent_finding_done_at",
                    "result_due_at",
                    "result_delivered_at",
                ]
            },
        ),
        (
            "Patient",
            {"fields": ["patient_name", "patient_birth_date", "patient_state", "opinion_state"]},
        ),
        (
            "Treating physician",
            {
                "fields": [
                    "physician_name",
                    "physician_practice",
                    "physician_phone",
                    "physician_email",
                ]
            },
        ),
        (
            "Scan",
            {
                "fields": [
                    "exam_type",
                    "body_region",
                    "exam_date",
                    "facility_name",
                    "facility_location",
                    "birads",
                    "had_biopsy",
                    "palpable_lump",
                ]
            },
        ),
        (
            "Question",
            {
                "fields": [
                    "reason",
                    "clinical_question",
                    "reason_details",
                    "scheduled_treatment_on",
                ]
            },
        ),
        (
            "Specialist",
            {
                "fields": [
                    "requested_subspecialty",
                    "review_type",
                    "clinical_specialty",
                    "visit_mode",
                    "queue",
                    "assigned_reviewer",
                ]
            },
        ),
        ("Dates", {"fields": ["created_at", "updated_at", "submitted_at", "consent_at"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                urgent_open=ExpressionWrapper(findings.URGENT_OPEN, output_field=BooleanField())
            )
        )

    def get_changelist(self, request, **kwargs):
        return CaseChangeList

    def get_search_results(self, request, queryset, search_term):
        """The search fields, a part of the patient's e-mail address, or a study's UID exactly,
        each looked up in a subquery. As search fields, a join on the studies would make the
        list set every case found apart from its duplicates (SELECT DISTINCT over the whole
        list), and a join on the accounts would be read one case at a time: seconds each at
        100,000 cases."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            patients = get_user_model().objects.filter(email__icontains=term).values("pk")
            studies = Study.objects.filter(study_instance_uid=term).values("case")
            found |= queryset.filter(Q(patient__in=patients) | Q(pk__in=studies))
        return found, duplicates

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != Case.Status.DRAFT:
            # Once submitted, the answers change only through the correction page, which puts
            # the change on the timeline and re-checks the specialist holding the case.
            fields += [name for name in services.CLINICAL_ANSWERS if name not in fields]
        return fields

    def get_urls(self):
        dashboard = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="requests_app_case_dashboard",
        )
        correct = path(
            "<int:pk>/correct/",
            self.admin_site.admin_view(self.correct_view),
            name="requests_app_case_correct",
        )
        preview = path(
            "<int:pk>/series/<uuid:series>/preview.png",
            self.admin_site.admin_view(self.preview_view),
            name="requests_app_case_preview",
        )
        return [dashboard, correct, preview, *super().get_urls()]

    def correct_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Correct a submitted case's clinical answers, with a reason, through the service."""
        case = get_object_or_404(Case, pk=pk)
        if not self.has_change_permission(request, case):
            raise PermissionDenied
        form = forms.ClinicalAnswersForm(request.POST or None, instance=case)
        if request.method == "POST" and form.is_valid():
            changes = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in services.CLINICAL_ANSWERS
            }
            try:
                changed = reviewer_services.correct_clinical_answers(
                    case, by=request.user, changes=changes, reason=form.cleaned_data["because"]
                )
            except services.CaseError as exc:
                messages.error(request, str(exc))
            else:
                self._audit(request, case, action=AuditEvent.Action.CHANGE, what="case.answers")
                case.refresh_from_db()
                messages.success(
                    request,
                    f"Corrected: {', '.join(changed)}. Case {case.short_code} is "
                    f"{case.get_status_display().lower()}.",
                )
                return redirect("admin:requests_app_case_change", case.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Correct the answers of case {case.short_code}",
            "opts": self.opts,
            "original": case,
            "form": form,
        }
        return TemplateResponse(request, "admin/requests_app/case/correct_form.html", context)

    def records_shown(self, request, obj: Case) -> list[str]:
        # The studies inline shows every series preview; the page's record names them, and
        # they are then served to this user (preview_view) without a record each.
        codes = Series.objects.filter(study__case=obj).exclude(preview_key="")
        codes = list(codes.values_list("code", flat=True))
        return [f"series-preview:{code}" for code in codes]

    def preview_view(self, request: HttpRequest, pk: int, series) -> HttpResponse:
        """A series preview on the case page, whose record named it."""
        case = get_object_or_404(Case, pk=pk)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        return audited_preview(request, case, series)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Triage dashboard",
            "opts": self.opts,
            **dashboard.figures(now=timezone.now()),
        }
        return TemplateResponse(request, "admin/requests_app/case/dashboard.html", context)

    def changelist_view(self, request, extra_context=None):
        extra = {"dashboard_url": reverse("admin:requests_app_case_dashboard")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and obj.status in services.CORRECTABLE_FROM:
            context["correct_url"] = reverse("admin:requests_app_case_correct", args=[obj.pk])
        if obj is not None:
            context["triage_actions"] = [
                (name, description)
                for name, (_, _, description) in self.get_actions(request).items()
            ]
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    # Columns ------------------------------------------------------------------------------------
    def action_checkbox(self, obj: Case) -> str:
        # Django renders this input through the form widget's template, once per row: the same
        # input written here costs a fraction of that on a page of fifty cases.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            f"Select this object for an action - {obj}",
        )

    @admin.display(description="case", ordering="code")
    def short_code(self, obj: Case) -> str:
        return obj.short_code

    @admin.display(description="priority", ordering="priority")
    def priority_label(self, obj: Case) -> str:
        label = obj.get_priority_display()
        if obj.priority == Priority.URGENT:
            return format_html("<strong>{}</strong>", label)
        return label

    @admin.display(description="flags")
    def flags(self, obj: Case) -> str:
        words = []
        if obj.needs_coordinator:
            words.append("check routing" if _routing_unsure(obj) else "needs coordinator")
        if getattr(obj, "has_mismatch", False):
            words.append("patient mismatch")
        if obj.on_hold:
            words.append("on hold")
        if getattr(obj, "urgent_open", False):
            words.append("urgent finding: call")
        if getattr(obj, "result_pending", False):
            due = date_format(timezone.localtime(obj.result_due_at), "M j")
            words.append(f"deliver result by {due}")
        return ", ".join(words) or "-"

    @admin.display(description="the specialist's note on the urgent finding")
    def urgent_finding_notes(self, obj: Case) -> str:
        notes = obj.opinions.filter(urgent_finding=True).values_list(
            "reviewer__display_name", "urgent_finding_note"
        )
        return format_html_join("", "<p><strong>{}:</strong> {}</p>", notes) or "-"

    @admin.display(description="in this status for", ordering="status_changed_at")
    def in_status_for(self, obj: Case) -> str:
        return timesince(obj.status_changed_at, timezone.now())

    @admin.display(description="SLA due", ordering="sla_due_at")
    def sla_due(self, obj: Case) -> str:
        state = sla.state_of(obj)
        if state in (sla.State.NONE, sla.State.ON_HOLD):
            return "-"
        when = date_format(timezone.localtime(obj.sla_due_at), "M j, H:i")
        label = dict(sla.State.choices)[state].lower()
        return format_html('<span class="sla-{}">{} ({})</span>', state, when, label)

    # Actions ------------------------------------------------------------------------------------
    @admin.action(description="Ask the patient for missing records", permissions=["change"])
    def ask_for_records_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.RecordsRequestForm,
            lambda case, data: triage.ask_for_records(case, by=request.user, **data),
            done="Records asked for",
        )

    @admin.action(description="Send a message to the patient", permissions=["change"])
    def message_patient_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.CareTeamMessageForm,
            lambda case, data: messaging.send_message(
                case, by=request.user, body=data["body"], from_care_team=True
            ),
            done="Message sent",
        )

    @admin.action(description="Move to another subspecialty's queue", permissions=["change"])
    def reroute_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.RerouteForm,
            lambda case, data: triage.reroute(case, by=request.user, **data),
            done="Moved",
        )

    @admin.action(description="Assign or reassign a reviewer", permissions=["change"])
    def assign_action(self, request, queryset):
        cases = list(queryset[:2])
        kwargs = {}
        if len(cases) == 1:
            kwargs = {
                "options": reviewer_options(cases[0]),
                "show_all": "show_all" in request.POST,
            }
        return self._with_form(
            request,
            queryset,
            forms.AssignReviewerForm,
            lambda case, data: assign_case(case, by=request.user, **data),
            done="Assigned",
            form_kwargs=kwargs,
        )

    @admin.action(description="Set priority", permissions=["change"])
    def set_priority_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.PriorityForm,
            lambda case, data: triage.set_priority(case, by=request.user, **data),
            done="Priority set",
        )

    @admin.action(description="Mark urgent", permissions=["change"])
    def mark_urgent_action(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda case: triage.set_priority(case, by=request.user, priority=Priority.URGENT),
            done="Marked urgent",
        )

    @admin.action(description="Put on hold", permissions=["change"])
    def hold_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.HoldForm,
            lambda case, data: triage.put_on_hold(case, by=request.user, **data),
            done="Put on hold",
        )

    @admin.action(description="Release the hold", permissions=["change"])
    def release_hold_action(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda case: triage.release_hold(case, by=request.user),
            done="Released",
        )

    @admin.action(description="Mark the flagged details as checked", permissions=["change"])
    def clear_flag_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.NoteForm,
            lambda case, data: triage.clear_flag(case, by=request.user, **data),
            done="Checked",
        )

    @admin.action(
        description="Record a call about an urgent finding or a suspicious result",
        permissions=["change"],
    )
    def record_contact_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.FindingContactForm,
            lambda case, data: findings.record_contact(case, by=request.user, **data),
            done="Call recorded",
        )

    @admin.action(description="Close", permissions=["change"])
    def close_action(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            forms.CloseForm,
            lambda case, data: triage.close_case(case, by=request.user, **data),
            done="Closed",
        )

    def _with_form(self, request, queryset, form_class, apply, *, done: str, form_kwargs=None):
        """An action that first asks for details (a message, a queue...), then runs on each case."""
        form = form_class(request.POST if "apply" in request.POST else None, **(form_kwargs or {}))
        if form.is_bound and form.is_valid():
            run_each(request, queryset, lambda case: apply(case, form.cleaned_data), done=done)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": form_class.title,
            "opts": self.opts,
            "form": form,
            "cases": queryset,
            "action": request.POST["action"],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "from_case": _from_case(request),
        }
        return TemplateResponse(request, "admin/requests_app/case/action_form.html", context)

    def response_action(self, request, queryset):
        """An action taken from a case's page returns to that page once done."""
        response = super().response_action(request, queryset)
        case_pk = _from_case(request)
        if case_pk is not None and response is not None and response.status_code == 302:
            return redirect("admin:requests_app_case_change", case_pk)
        return response


def _from_case(request) -> int | None:
    """The case whose page an action was chosen on (it then acts on that case alone)."""
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    if request.POST.get("from_case") and len(selected) == 1 and selected[0].isdigit():
        return int(selected[0])
    return None


def _routing_unsure(case: Case) -> bool:
    return (case.routing_confidence or 0) < NEEDS_COORDINATOR_BELOW


@admin.register(FindingContact)
class FindingContactAdmin(AuditedModelAdmin):
    """Calls about urgent findings and suspicious results: recorded by the case's action only."""

    list_display = ["at", "case", "by", "party", "outcome"]
    list_filter = ["party", "outcome"]
    list_select_related = ["case", "by"]
    search_fields = ["case__code"]
    readonly_fields = ["case", "at", "by", "party", "outcome", "note"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CaseEvent)
class CaseEventAdmin(AuditedModelAdmin):
    list_display = ["at", "case", "actor", "from_status", "to_status", "message"]
    list_filter = ["to_status"]
    list_select_related = ["case", "actor"]
    search_fields = ["case__code"]
    raw_id_fields = ["case", "actor"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Authorization)
class AuthorizationAdmin(AuditedModelAdmin):
    """Read-only: a signed text never changes. A written revocation is recorded by the action,
    which calls the same service as the patient's button."""

    list_display = ["code", "case", "signed_at", "expires_on", "revoked_at", "revocation"]
    list_filter = ["revocation"]
    list_select_related = ["case"]
    search_fields = ["case__code"]
    raw_id_fields = ["case", "signed_by"]
    readonly_fields = [f.name for f in Authorization._meta.fields]
    actions = ["record_written_revocation"]

    @admin.action(description="Record a written revocation", permissions=["change"])
    def record_written_revocation(self, request, queryset):
        form = forms.WrittenRevocationForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            run_each(
                request,
                queryset.select_related("case"),
                lambda authorization: revoke_authorization(
                    authorization,
                    by=request.user,
                    method=Authorization.Revocation.WRITTEN,
                    received_on=form.cleaned_data["received_on"],
                    note=form.cleaned_data["note"],
                ),
                done="Revocations recorded",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": form.title,
            "opts": self.opts,
            "form": form,
            "authorizations": queryset.select_related("case"),
            "action": request.POST["action"],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/requests_app/authorization/revocation_form.html", context
        )


@admin.register(SlaTarget)
class SlaTargetAdmin(AuditedModelAdmin):
    list_display = ["status", "subspecialty", "hours", "warn_hours"]
    list_editable = ["hours", "warn_hours"]
    list_filter = ["status", "subspecialty"]


# allauth's own pages: an e-mail address or an authenticator stays with the account it was made
# for (given to another account it would log in as, or confirm the login of, the first).
admin.site.unregister(EmailAddress)
admin.site.unregister(Authenticator)


@admin.register(EmailAddress)
class AccountEmailAddressAdmin(OwnerLinksReadOnly, EmailAddressAdmin):
    pass


@admin.register(Authenticator)
class AccountAuthenticatorAdmin(OwnerLinksReadOnly, AuthenticatorAdmin):
    pass
