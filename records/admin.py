from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html_join

from requests_app.admin_audit import AuditedModelAdmin

from . import services
from .forms import RemoveFilesForm
from .models import Document, RecordsRequest, Upload, UploadFile


@admin.register(Document)
class DocumentAdmin(AuditedModelAdmin):
    list_display = ["code", "case", "kind", "size", "page_count", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["case"]
    search_fields = ["code", "case__code"]
    raw_id_fields = ["case", "uploaded_by"]
    readonly_fields = ["code", "file", "original_name", "size", "sha256", "page_count"]


class UploadFileInline(admin.TabularInline):
    model = UploadFile
    fields = ["code", "relative_path", "status", "size", "sha256"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Upload)
class UploadAdmin(AuditedModelAdmin):
    list_display = ["code", "case", "status", "file_count", "total_bytes", "created_at"]
    list_filter = ["status"]
    list_select_related = ["case"]
    search_fields = ["code", "case__code"]
    raw_id_fields = ["case", "uploaded_by"]
    readonly_fields = [
        "code",
        "status",
        "file_count",
        "total_bytes",
        "completed_at",
        "problem_list",
    ]
    inlines = [UploadFileInline]

    @admin.display(description="validation problems")
    def problem_list(self, obj: Upload) -> str:
        # The code first: internal_error means our checking code failed, not the patient's files.
        return format_html_join(
            "",
            "<div><code>{}</code> {} <small>{}</small></div>",
            ((p.code, p.message, p.path) for p in obj.problems.all()),
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting the row here would leave its stored files behind and the case's counts
        # wrong; files leave through the audited action on the files' list.
        return False


@admin.register(UploadFile)
class UploadFileAdmin(AuditedModelAdmin):
    list_display = ["code", "upload", "status", "size"]
    list_filter = ["status"]
    list_select_related = ["upload"]
    search_fields = ["code", "upload__code"]
    raw_id_fields = ["upload"]
    readonly_fields = ["code", "relative_path", "status", "multipart_id", "size", "sha256"]
    actions = ["remove_files_action"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Only the action below takes a file out: it keeps the counts right and writes the
        # timeline; Django's own delete would do neither.
        return False

    def has_remove_permission(self, request) -> bool:
        return request.user.has_perm("records.delete_uploadfile")

    @admin.action(description="Remove the selected files from their case", permissions=["remove"])
    def remove_files_action(self, request, queryset):
        form = RemoveFilesForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                n = services.remove_checked_files(
                    list(queryset), by=request.user, reason=form.cleaned_data["reason"]
                )
            except services.RecordError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Files removed: {n}.")
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": form.title,
            "opts": self.opts,
            "form": form,
            "files": queryset.select_related("upload__case"),
            "action": request.POST["action"],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        # A page (asking for the reason, or showing a refusal): nothing was removed, so the
        # audit wrapper records nothing.
        return TemplateResponse(request, "admin/records/uploadfile/remove_files.html", context)


class RecordsRequestDeadlineFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Past the deadline"), ("open", "Waiting for the facility")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        waiting = queryset.filter(sent_on__isnull=False, received_on__isnull=True)
        if self.value() == "overdue":
            return waiting.filter(due_on__lt=timezone.localdate())
        if self.value() == "open":
            return waiting.filter(due_on__gte=timezone.localdate())
        return queryset


# The patient runs the request and its clock; coordinators look, and change nothing here.
CLOCK_FIELDS = [
    "signed_name",
    "signed_at",
    "sent_on",
    "due_on",
    "extension_noted_on",
    "extension_reason",
    "received_on",
    "reminded_before_at",
    "reminded_overdue_at",
    "escalation_generated_at",
]


@admin.display(description="status")
def status_label(obj: RecordsRequest) -> str:
    return obj.get_status_display()


@admin.register(RecordsRequest)
class RecordsRequestAdmin(AuditedModelAdmin):
    list_display = ["code", "case", status_label, "sent_on", "due_on", "received_on"]
    list_filter = [RecordsRequestDeadlineFilter, "delivery"]
    list_select_related = ["case"]
    search_fields = ["code", "case__code"]
    raw_id_fields = ["case"]
    readonly_fields = ["code", status_label, *CLOCK_FIELDS, "created_at"]
    date_hierarchy = "due_on"


class RecordsRequestInline(admin.TabularInline):
    model = RecordsRequest
    fields = ["code", "facility_name", status_label, "sent_on", "due_on", "received_on"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False
