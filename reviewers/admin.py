from django.contrib import admin, messages
from django.db.models import Count, Q

from insurance import assignment as network
from requests_app.admin_audit import AuditedModelAdmin
from requests_app.models import Case

from . import services
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
    extra = 1


@admin.register(ReviewerProfile)
class ReviewerProfileAdmin(AuditedModelAdmin):
    list_display = [
        "display_name",
        "kind",
        "institution",
        "turnaround_days",
        "open_cases",
        "capacity",
        "mqsa_qualified",
        "is_active",
    ]
    list_filter = ["is_active", "kind", "subspecialties", "mqsa_qualified", "licenses__state"]
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
                    "mqsa_qualified",
                    "mqsa_qualified_since",
                ]
            },
        ),
        ("Practice", {"fields": ["institution", "remote", "in_person"]}),
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
        "round",
        "claimed_at",
        "blind_read_at",
        "radpeer",
        "signed_at",
        "released_at",
    ]
    list_filter = ["round", "radpeer"]
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
