"""Coordinators' insurance desk: the rules table, coverage checks and the paperwork.

Paperwork statuses are read-only; they move only through the actions below (on the list) or the
buttons on an item's page, and both call `insurance.services`, which checks the move is allowed
and puts it on the case's timeline with the coordinator's name.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from requests_app.admin_actions import run_each
from requests_app.admin_audit import AuditedModelAdmin
from requests_app.audit import serve_file
from requests_app.services import CaseError

from . import paperwork, services
from .models import (
    CaseInsurance,
    CaseReferral,
    CoverageCheck,
    GoodFaithEstimate,
    NetworkGapException,
    Payer,
    Plan,
    ServicePrice,
)
from .models import PriorAuthorization as PA


class PlanInline(admin.TabularInline):
    model = Plan
    fields = ["name", "plan_type", "second_opinion", "prior_auth_required", "is_active"]
    show_change_link = True
    extra = 0


@admin.register(Payer)
class PayerAdmin(AuditedModelAdmin):
    list_display = ["name", "payer_id", "phone"]
    search_fields = ["name", "payer_id"]
    inlines = [PlanInline]


@admin.register(Plan)
class PlanAdmin(AuditedModelAdmin):
    list_display = [
        "name",
        "payer",
        "plan_type",
        "second_opinion",
        "covers_reread",
        "prior_auth_required",
        "referral_required",
        "cost_sharing",
        "copay",
        "deductible",
        "coinsurance_percent",
        "out_of_network_covered",
        "is_active",
    ]
    list_filter = ["plan_type", "payer", "second_opinion", "prior_auth_required", "is_active"]
    list_select_related = ["payer"]
    search_fields = ["name", "payer__name"]
    filter_horizontal = ["in_network_reviewers"]
    fieldsets = [
        (None, {"fields": ["payer", "name", "plan_type", "is_active"]}),
        (
            "Second opinion",
            {
                "fields": [
                    "second_opinion",
                    "covers_reread",
                    "reread_code",
                    "prior_auth_required",
                    "employer_group_plan",
                    "referral_required",
                ]
            },
        ),
        (
            "Cost sharing for diagnostic services",
            {"fields": ["cost_sharing", "copay", "deductible", "coinsurance_percent"]},
        ),
        (
            "Network",
            {
                "fields": [
                    "has_network",
                    "in_network_reviewers",
                    "in_network_facilities",
                    "out_of_network_covered",
                    "out_of_network_deductible",
                    "out_of_network_coinsurance_percent",
                ]
            },
        ),
        (None, {"fields": ["notes"]}),
    ]


@admin.register(ServicePrice)
class ServicePriceAdmin(AuditedModelAdmin):
    list_display = ["review_type", "self_pay_price", "allowed_amount", "cpt_codes", "description"]


@admin.register(GoodFaithEstimate)
class GoodFaithEstimateAdmin(AuditedModelAdmin):
    """Read-only: an estimate is kept as it was given (45 CFR 149.610), never edited."""

    list_display = ["issued_at", "case", "total"]
    list_select_related = ["case"]
    search_fields = ["case__code"]
    raw_id_fields = ["case"]
    date_hierarchy = "issued_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in GoodFaithEstimate._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CoverageCheck)
class CoverageCheckAdmin(AuditedModelAdmin):
    list_display = [
        "checked_at",
        "case",
        "outcome",
        "headline",
        "estimate_low",
        "estimate_high",
        "source",
    ]
    list_filter = ["outcome", "source"]
    list_select_related = ["case"]
    search_fields = ["case__code"]
    raw_id_fields = ["case", "plan"]
    date_hierarchy = "checked_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in CoverageCheck._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@dataclass(frozen=True)
class Button:
    label: str
    done: str
    call: Callable  # (item, user) -> None, a service
    shown: Callable  # (item) -> bool


class ButtonsAdmin(AuditedModelAdmin):
    """Buttons on an item's page that save the form, then call a service."""

    change_form_template = "insurance/admin/buttons_change_form.html"
    # Button name -> Button; set by each subclass.
    buttons: dict[str, "Button"] = {}

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context["decision_buttons"] = [
            (name, button.label)
            for name, button in self.buttons.items()
            if obj is not None and button.shown(obj)
        ]
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def response_change(self, request: HttpRequest, obj) -> HttpResponse:
        # The form's fields (reference number, dates, note) are saved first, then the button's
        # service moves the status with them.
        for name, button in self.buttons.items():
            if name in request.POST:
                obj.refresh_from_db()
                try:
                    button.call(obj, request.user)
                except CaseError as exc:
                    messages.error(request, str(exc))
                    return HttpResponseRedirect(request.path)
                obj.case.refresh_from_db(fields=["status"])
                messages.success(
                    request,
                    f"{button.done} Case {obj.case.short_code} is "
                    f"{obj.case.get_status_display().lower()}.",
                )
                return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


def status_in(*statuses):
    return lambda obj: obj.status in statuses


class PaperworkAdmin(ButtonsAdmin):
    """Shared: the list, the read-only status and the decision buttons on an item's page."""

    list_select_related = ["case"]
    search_fields = ["case__code", "reference_number"]
    raw_id_fields = ["case"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False  # opened by the coverage rules, never by hand

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="case", ordering="case__code")
    def case_code(self, obj) -> str:
        return obj.case.short_code

    @admin.display(description="case status")
    def case_status(self, obj) -> str:
        return obj.case.get_status_display()


@admin.register(PA)
class PriorAuthorizationAdmin(PaperworkAdmin):
    list_display = [
        "case_code",
        "status",
        "expedited",
        "reference_number",
        "requested_at",
        "decision_due_at",
        "decided_at",
        "case_status",
    ]
    list_filter = ["status", "expedited"]
    fields = [
        "case",
        "status",
        "expedited",
        "reference_number",
        "valid_until",
        "note",
        "requested_at",
        "decision_due_at",
        "decided_at",
        "decided_by",
    ]
    readonly_fields = [
        "case",
        "status",
        "requested_at",
        "decision_due_at",
        "decided_at",
        "decided_by",
    ]
    actions = ["mark_requested", "record_approved", "record_denied"]
    buttons = {
        "_requested": Button(
            "Record: requested from the insurer",
            "Recorded as requested.",
            lambda pa, user: paperwork.record_prior_auth_requested(pa, by=user),
            status_in(PA.Status.NEEDED, PA.Status.DENIED),
        ),
        "_approved": Button(
            "Record approval",
            "Approval recorded.",
            lambda pa, user: paperwork.record_prior_auth_decision(pa, by=user, approved=True),
            status_in(PA.Status.NEEDED, PA.Status.REQUESTED),
        ),
        "_denied": Button(
            "Record denial",
            "Denial recorded.",
            lambda pa, user: paperwork.record_prior_auth_decision(pa, by=user, approved=False),
            status_in(PA.Status.NEEDED, PA.Status.REQUESTED),
        ),
    }

    @admin.action(description="Record: requested from the insurer", permissions=["change"])
    def mark_requested(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda pa: paperwork.record_prior_auth_requested(pa, by=request.user),
            done="Marked requested",
        )

    @admin.action(
        description="Record: approved by the insurer (reference number entered)",
        permissions=["change"],
    )
    def record_approved(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda pa: paperwork.record_prior_auth_decision(pa, by=request.user, approved=True),
            done="Approvals recorded",
        )

    @admin.action(description="Record: denied by the insurer", permissions=["change"])
    def record_denied(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda pa: paperwork.record_prior_auth_decision(pa, by=request.user, approved=False),
            done="Denials recorded",
        )


@admin.register(CaseReferral)
class CaseReferralAdmin(PaperworkAdmin):
    list_display = [
        "case_code",
        "status",
        "physician_name",
        "received_at",
        "decided_at",
        "case_status",
    ]
    list_filter = ["status"]
    fields = [
        "case",
        "status",
        "letter",
        "physician_name",
        "physician_npi",
        "physician_phone",
        "reference_number",
        "note",
        "received_at",
        "decided_at",
        "decided_by",
    ]
    readonly_fields = ["case", "status", "received_at", "decided_at", "decided_by"]
    raw_id_fields = ["case", "letter"]
    actions = ["accept"]
    buttons = {
        "_accept": Button(
            "Record: referral on file",
            "Referral on file.",
            lambda ref, user: paperwork.accept_referral(ref, by=user),
            status_in(
                CaseReferral.Status.NEEDED,
                CaseReferral.Status.RECEIVED,
                CaseReferral.Status.REJECTED,
            ),
        ),
        "_reject": Button(
            "Record: referral not valid (say why in the note)",
            "Referral marked not valid; the patient is asked for a new one.",
            lambda ref, user: paperwork.reject_referral(ref, by=user, note=ref.note),
            status_in(
                CaseReferral.Status.NEEDED,
                CaseReferral.Status.RECEIVED,
                CaseReferral.Status.ACCEPTED,
            ),
        ),
    }

    @admin.action(description="Record: referral on file", permissions=["change"])
    def accept(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda ref: paperwork.accept_referral(ref, by=request.user),
            done="Referrals on file",
        )


@admin.register(NetworkGapException)
class NetworkGapExceptionAdmin(PaperworkAdmin):
    list_display = [
        "case_code",
        "status",
        "subspecialty",
        "letter_date",
        "sent_at",
        "decided_at",
        "case_status",
    ]
    list_filter = ["status", "subspecialty"]
    fields = [
        "case",
        "status",
        "subspecialty",
        "clinical_reason",
        "letter_link",
        "letter_date",
        "reference_number",
        "note",
        "sent_at",
        "decided_at",
        "decided_by",
    ]
    readonly_fields = [
        "case",
        "status",
        "subspecialty",
        "letter_link",
        "letter_date",
        "sent_at",
        "decided_at",
        "decided_by",
    ]
    actions = ["mark_sent"]
    buttons = {
        "_sent": Button(
            "Record: letter sent to the insurer",
            "Recorded as sent.",
            lambda e, user: paperwork.mark_exception_sent(e, by=user),
            status_in(NetworkGapException.Status.DRAFT, NetworkGapException.Status.DENIED),
        ),
        "_granted": Button(
            "Record: exception granted",
            "Exception recorded as granted.",
            lambda e, user: paperwork.record_exception_decision(e, by=user, granted=True),
            status_in(NetworkGapException.Status.SENT),
        ),
        "_denied": Button(
            "Record: exception denied",
            "Exception recorded as denied.",
            lambda e, user: paperwork.record_exception_decision(e, by=user, granted=False),
            status_in(NetworkGapException.Status.SENT),
        ),
    }

    @admin.display(description="letter")
    def letter_link(self, obj) -> str:
        url = reverse("admin:insurance_networkgapexception_letter", args=[obj.pk])
        return format_html('<a href="{}">Letter to the insurer (PDF)</a>', url)

    @admin.action(description="Record: letter sent to the insurer", permissions=["change"])
    def mark_sent(self, request, queryset):
        run_each(
            request,
            queryset,
            lambda e: paperwork.mark_exception_sent(e, by=request.user),
            done="Marked sent",
        )

    def get_urls(self):
        letter = path(
            "<int:pk>/letter.pdf",
            self.admin_site.admin_view(self.letter_pdf),
            name="insurance_networkgapexception_letter",
        )
        return [letter, *super().get_urls()]

    def letter_pdf(self, request: HttpRequest, pk: int) -> HttpResponse:
        exception = self.get_object(request, str(pk))
        if exception is None or not self.has_view_permission(request, exception):
            return HttpResponse(status=404)
        return serve_file(
            request,
            paperwork.network_gap_letter_pdf(exception),
            case=exception.case,
            target_type="network_gap_letter",
            target_codes=[exception.code],
            content_type="application/pdf",
            filename=f"network-gap-exception-{exception.case.short_code}.pdf",
        )


@admin.register(CaseInsurance)
class CaseInsuranceAdmin(ButtonsAdmin):
    list_display = [
        "case",
        "plan_type",
        "plan",
        "insurer_name",
        "has_referral",
        "self_pay_chosen_at",
        "cleared_at",
        "updated_at",
    ]
    list_filter = ["plan_type", "has_referral", "plan__payer"]
    list_select_related = ["case", "plan__payer"]
    search_fields = ["case__code", "insurer_name"]
    raw_id_fields = ["case"]
    readonly_fields = [
        "self_pay_chosen_at",
        "self_pay_price",
        # The Advance Beneficiary Notice is the patient's signature: never edited here.
        "abn_option",
        "abn_signed_name",
        "abn_signed_at",
        "abn_text",
        "cleared_at",
        "cleared_by",
    ]
    actions = ["recheck_coverage"]
    buttons = {
        "_clear": Button(
            "Clear insurance and queue the case (say why in the note)",
            "Insurance cleared.",
            lambda ins, user: services.clear_insurance(ins.case, by=user, note=ins.cleared_note),
            lambda ins: ins.case.status == "awaiting_insurance",
        ),
    }

    def save_model(self, request, obj, form, change) -> None:
        changed = [name for name in form.changed_data if name != "cleared_note"]
        if not change or not changed:
            super().save_model(request, obj, form, change)
            return
        services.update_insurance_by_coordinator(obj, by=request.user, fields=form.changed_data)

    @admin.action(description="Check coverage again", permissions=["change"])
    def recheck_coverage(self, request, queryset):
        run_each(request, queryset, lambda ins: services.refresh_coverage(ins.case), done="Checked")
