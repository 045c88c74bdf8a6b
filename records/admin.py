from django.contrib import admin

from .models import Document, Upload, UploadFile


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
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
class UploadAdmin(admin.ModelAdmin):
    list_display = ["code", "case", "status", "file_count", "total_bytes", "created_at"]
    list_filter = ["status"]
    list_select_related = ["case"]
    search_fields = ["code", "case__code"]
    raw_id_fields = ["case", "uploaded_by"]
    readonly_fields = ["code", "status", "file_count", "total_bytes", "completed_at"]
    inlines = [UploadFileInline]


@admin.register(UploadFile)
class UploadFileAdmin(admin.ModelAdmin):
    list_display = ["code", "upload", "status", "size"]
    list_filter = ["status"]
    list_select_related = ["upload"]
    search_fields = ["code", "upload__code"]
    raw_id_fields = ["upload"]
    readonly_fields = ["code", "relative_path", "status", "multipart_id", "size", "sha256"]
