from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone

from insurance import assignment as network
from requests_app.admin_audit import AuditedModelAdmin
from requests_app.admin_forms import EligibleReviewers
from requests_app.models import Case

from . import services
from .credentials import LAPSE_WARNING_DAYS
from .forms import AssignForm
from .models import (
    CaseAssignment,
    FollowUpQuestion,
    Opinion,
    ReviewerChoice,
    ReviewerLicense,
    ReviewerProfile,
    RoutingRule,
    Subspecialty,
)


class CoordinatorAccess:
    """Coordinators work on cases through requests_app permissions; these pages follow them."""

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("requests_app.view_case")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("requests_app.change_case")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subspecialty)
class SubspecialtyAdmin(AuditedModelAdmin):
    list_display = ["slug", "name", "specialist_title", "order"]
    ordering = ["order"]


class LicenseInline(admin.TabularInline):
    model = ReviewerLicense
    fields = ["state", "number", "expires_on", "last_verified_on"]
    extra = 1


class NewReviewerForm(forms.ModelForm):
    """A reviewer profile is made together with its own new account, never given to one that
    exists: that account may be a patient's, who would then see the queues."""

    email = forms.EmailField(
        label="E-mail of the reviewer's new account",
        help_text="They choose a password with “Forgot your password?” on the login page.",
    )

    class Meta:
        model = ReviewerProfile
        # The admin's fieldsets say which fields show; the account is never one of them.
        fields: list[str] = []

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if services.email_has_account(email):
            raise forms.ValidationError("This address already has an account; use another.")
        return email


def _lapsing_by(day) -> Q:
    """Reviewers with a licence, or (for mammogram readers) an MQSA period, ending by `day` or
    without its date."""
    licence = Q(licenses__expires_on__isnull=True) | Q(licenses__expires_on__lte=day)
    mqsa = Q(mqsa_initial_qualification_on__isnull=False) & (
        Q(mqsa_continuing_experience_due__isnull=True)
        | Q(mqsa_continuing_experience_due__lte=day)
        | Q(mqsa_continuing_education_due__isnull=True)
        | Q(mqsa_continuing_education_due__lte=day)
    )
    return (Q(licenses__isnull=False) & licence) | mqsa


class CredentialFilter(admin.SimpleListFilter):
    """What coordinators must verify before it lapses: licences and MQSA periods."""

    title = "credentials"
    parameter_name = "credentials"

    def lookups(self, request, model_admin):
        return [
            ("lapsed", "Lapsed or undated"),
            ("soon", f"Lapse within {LAPSE_WARNING_DAYS} days"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "lapsed":
            return queryset.filter(_lapsing_by(today - timedelta(days=1))).distinct()
        if self.value() == "soon":
            horizon = today + timedelta(days=LAPSE_WARNING_DAYS)
            return queryset.filter(_lapsing_by(horizon)).distinct()
        return queryset


@admin.register(ReviewerProfile)
class ReviewerProfileAdmin(AuditedModelAdmin):
    list_display = [
        "display_name",
        "kind",
        "institution",
        "turnaround_days",
        "open_cases",
        "capacity",
        "mqsa_status",
        "is_active",
    ]
    list_filter = ["is_active", "kind", CredentialFilter, "subspecialties", "licenses__state"]
    list_select_related = ["user"]
    search_fields = ["display_name", "user__email", "institution"]
    raw_id_fields = ["user"]
    filter_horizontal = ["subspecialties"]
    inlines = [LicenseInline]
    fieldsets = [
        (None, {"fields": ["user", "display_name", "is_active", "bio"]}),
        ("Specialty", {"fields": ["kind", "clinical_specialty", "subspecialties"]}),
        (
            "Credentials",
            {
                "fields": [
                    "board_certification",
                    "fellowship",
                ]
            },
        ),
        (
            "MQSA (mammogram readers)",
            {
                "fields": [
                    "mqsa_initial_qualification_on",
                    "mqsa_continuing_experience_due",
                    "mqsa_continuing_education_due",
                    "mqsa_dbt_trained_on",
                    "mqsa_last_verified_on",
                ]
            },
        ),
        ("Practice", {"fields": ["institution", "affiliations", "remote", "in_person"]}),
        ("Workload", {"fields": ["turnaround_days", "capacity"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_count=Count(
                    "assigned_cases", filter=Q(assigned_cases__status=Case.Status.IN_REVIEW)
                )
            )
        )

    @admin.display(description="open cases", ordering="open_count")
    def open_cases(self, obj: ReviewerProfile) -> int:
        return obj.open_count

    def has_add_permission(self, request) -> bool:
        # The profile's account is made with it (below), so the owner link is never a choice.
        return admin.ModelAdmin.has_add_permission(self, request)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        (name, options), *rest = fieldsets
        fields = ["email" if f == "user" else f for f in options["fields"]]
        return [(name, {**options, "fields": fields}), *rest]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = NewReviewerForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.user = services.create_reviewer_account(
                email=form.cleaned_data["email"], display_name=obj.display_name
            )
        super().save_model(request, obj, form, change)

    @admin.display(description="MQSA")
    def mqsa_status(self, obj: ReviewerProfile) -> str:
        if obj.mqsa_initial_qualification_on is None:
            return "-"
        return "current" if obj.mqsa_current_on(timezone.localdate()) else "lapsed"


@admin.register(CaseAssignment)
class CaseAssignmentAdmin(CoordinatorAccess, AuditedModelAdmin):
    """Assign a waiting case to a reviewer, or hand a case in review to another one."""

    form = AssignForm
    list_display = ["short_code", "status", "queue", "assigned_reviewer", "status_changed_at"]
    list_filter = ["status", "queue"]
    list_select_related = ["queue", "assigned_reviewer"]
    search_fields = ["code"]
    readonly_fields = ["short_code", "status", "queue", "assigned_reviewer", "routing_reasons"]
    fields = ["short_code", "status", "queue", "routing_reasons", "assigned_reviewer", "reviewer"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status__in=[Case.Status.QUEUED, Case.Status.IN_REVIEW])
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form
        options = network.reviewer_options(obj)

        class WithTheFacts(EligibleReviewers, form):
            def __init__(self, *args, **kw):
                super().__init__(*args, options=options, show_all="show_all" in request.GET, **kw)

        return WithTheFacts

    @admin.display(description="case", ordering="code")
    def short_code(self, obj: Case) -> str:
        return obj.short_code

    def save_model(self, request, obj, form, change) -> None:
        # The form never writes the case: the service does, through the status machine.
        try:
            network.assign_case(obj, reviewer=form.cleaned_data["reviewer"], by=request.user)
        except services.ReviewError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
        else:
            self.message_user(
                request, f"Case {obj.short_code} assigned to {obj.assigned_reviewer}."
            )

    def save_related(self, request, form, formsets, change) -> None:
        pass


class QuestionInline(admin.TabularInline):
    model = FollowUpQuestion
    fields = ["asked_at", "question", "answered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Opinion)
class OpinionAdmin(CoordinatorAccess, AuditedModelAdmin):
    """Readings are written by their reviewers only; coordinators follow their progress."""

    list_display = [
        "code",
        "case",
        "reviewer",
        "role",
        "round",
        "claimed_at",
        "blind_read_at",
        "radpeer",
        "signed_at",
        "released_at",
    ]
    list_filter = ["role", "round", "radpeer", "urgent_finding"]
    list_select_related = ["case", "reviewer"]
    search_fields = ["code", "case__code"]
    inlines = [QuestionInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Opinion._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewerChoice)
class ReviewerChoiceAdmin(CoordinatorAccess, AuditedModelAdmin):
    list_display = ["case", "reviewer", "chosen_at"]
    list_select_related = ["case", "reviewer"]
    raw_id_fields = ["case", "reviewer"]
    search_fields = ["case__code"]


@admin.register(FollowUpQuestion)
class FollowUpQuestionAdmin(CoordinatorAccess, AuditedModelAdmin):
    list_display = ["code", "opinion", "asked_at", "answered_at"]
    list_select_related = ["opinion"]
    readonly_fields = [
        "code",
        "opinion",
        "asked_by",
        "question",
        "asked_at",
        "answer",
        "answered_at",
    ]
    search_fields = ["code", "opinion__case__code"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedModelAdmin):
    list_display = ["name", "order", "subspecialty", "confidence", "is_active"]
    # Reordering and switching rules off are the everyday edits, so they are done from the list.
    list_editable = ["order", "is_active"]
    list_filter = ["subspecialty", "is_active"]
    list_select_related = ["subspecialty"]
    search_fields = ["name", "body_part_keywords", "description_keywords"]
    ordering = ["order", "name"]
    fieldsets = [
        (None, {"fields": ["name", "order", "is_active"]}),
        (
            "What the scan headers say",
            {
                "fields": ["modalities", "body_part_keywords", "description_keywords"],
                "description": (
                    "Filled-in conditions must all hold and empty ones match anything; body part "
                    "and description keywords count as one condition that either can meet."
                ),
            },
        ),
        ("What the patient told us", {"fields": ["declared_regions", "declared_exam_types"]}),
        ("Age", {"fields": ["max_age"]}),
        ("Result", {"fields": ["subspecialty", "confidence"]}),
    ]
