from django.contrib import admin
from django.utils import timezone
from django.utils.timesince import timesince

from insurance.models import CaseInsurance
from records.models import Document, Upload

from .models import AuditEvent, Authorization, Case, CaseEvent


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    fields = ["at", "actor", "from_status", "to_status", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DocumentInline(admin.TabularInline):
    model = Document
    fields = ["kind", "code", "size", "page_count", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class UploadInline(admin.TabularInline):
    model = Upload
    fields = ["code", "status", "file_count", "total_bytes", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class InsuranceInline(admin.StackedInline):
    model = CaseInsurance
    extra = 0
    can_delete = False


class AuthorizationInline(admin.TabularInline):
    model = Authorization
    fields = ["signed_name", "signer_relationship", "signed_at", "expires_on", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = [
        "short_code",
        "status",
        "exam_type",
        "body_region",
        "requested_subspecialty",
        "queue",
        "submitted_at",
        "in_status_for",
    ]
    list_filter = ["status", "exam_type", "requested_subspecialty", "queue", "review_type"]
    list_select_related = ["requested_subspecialty", "queue"]
    search_fields = ["code", "patient__email", "patient_name"]
    date_hierarchy = "created_at"
    raw_id_fields = ["patient"]
    readonly_fields = [
        "code",
        "status",
        "status_changed_at",
        "created_at",
        "updated_at",
        "submitted_at",
        "consent_at",
        # Queue and reviewer change only through routing and the assignment page's services.
        "queue",
        "assigned_reviewer",
    ]
    inlines = [InsuranceInline, AuthorizationInline, DocumentInline, UploadInline, CaseEventInline]
    fieldsets = [
        (None, {"fields": ["code", "status", "status_changed_at", "patient"]}),
        ("Patient", {"fields": ["patient_name", "patient_birth_date", "patient_state"]}),
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
                ]
            },
        ),
        ("Question", {"fields": ["reason", "clinical_question", "reason_details"]}),
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

    @admin.display(description="case", ordering="code")
    def short_code(self, obj: Case) -> str:
        return obj.short_code

    @admin.display(description="in this status for", ordering="status_changed_at")
    def in_status_for(self, obj: Case) -> str:
        return timesince(obj.status_changed_at, timezone.now())


@admin.register(CaseEvent)
class CaseEventAdmin(admin.ModelAdmin):
    list_display = ["at", "case", "actor", "from_status", "to_status", "message"]
    list_filter = ["to_status"]
    list_select_related = ["case", "actor"]
    search_fields = ["case__code"]
    raw_id_fields = ["case", "actor"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Authorization)
class AuthorizationAdmin(admin.ModelAdmin):
    list_display = ["code", "case", "signed_at", "expires_on", "revoked_at"]
    list_select_related = ["case"]
    search_fields = ["case__code"]
    raw_id_fields = ["case", "signed_by"]
    readonly_fields = [f.name for f in Authorization._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only for everyone, superusers included."""

    list_display = ["at", "actor", "action", "target_type", "target_code", "case_code"]
    list_filter = ["action", "target_type"]
    list_select_related = ["actor"]
    search_fields = ["case_code", "target_code", "actor__email"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
