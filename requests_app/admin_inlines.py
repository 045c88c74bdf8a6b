"""Inlines for the case's admin page: the case's related rows (timeline, documents, studies,
uploads, insurance paperwork, reports, calls, authorizations, messages), read-only."""

from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db import models
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.text import capfirst

from insurance.models import CaseInsurance, CaseReferral, NetworkGapException, PriorAuthorization
from records.models import Document, Series, Study, Upload
from reviewers.models import Opinion

from .models import Authorization, CaseEvent, FindingContact, Message


class ReadOnlyInline(admin.TabularInline):
    """A list of a case's related rows on its page: they change elsewhere, never here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CaseEventInline(ReadOnlyInline):
    model = CaseEvent
    fields = ["at", "actor", "from_status", "to_status", "message"]
    readonly_fields = fields
    verbose_name_plural = "timeline"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class DocumentInline(ReadOnlyInline):
    model = Document
    fields = ["kind", "original_name", "size", "page_count", "created_at"]
    readonly_fields = fields
    show_change_link = True


class StudyInline(ReadOnlyInline):
    model = Study
    fields = [
        "description",
        "modalities",
        "body_parts",
        "study_date",
        "instance_count",
        "person",
        "person_explanation",
        "previews",
    ]
    readonly_fields = fields
    verbose_name_plural = "studies"

    def get_queryset(self, request):
        series = Series.objects.exclude(preview_key="").order_by("series_number")
        return super().get_queryset(request).prefetch_related(Prefetch("series", queryset=series))

    @admin.display(description="series previews")
    def previews(self, obj: Study) -> str:
        return format_html_join(
            " ",
            '<img src="{}" alt="{}" height="96" class="series-preview" loading="lazy">',
            (
                (
                    reverse("admin:requests_app_case_preview", args=[obj.case_id, s.code]),
                    s.description or s.modality,
                )
                for s in obj.series.all()
            ),
        )


class UploadInline(ReadOnlyInline):
    model = Upload
    fields = ["code", "status", "file_count", "total_bytes", "created_at", "problem_list"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("problems")

    @admin.display(description="validation problems")
    def problem_list(self, obj: Upload) -> str:
        return format_html_join(
            "",
            "<div><strong>{}</strong> {} <small>{}</small></div>",
            ((p.get_severity_display(), p.message, p.code) for p in obj.problems.all()),
        )


class InsuranceInline(admin.StackedInline):
    model = CaseInsurance
    extra = 0
    can_delete = False
    show_change_link = True
    # The patient's signed Advance Beneficiary Notice is read here, never edited.
    readonly_fields = ["abn_option", "abn_signed_name", "abn_signed_at", "abn_text"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # A date and time is two inputs under one label: each gets its own accessible name.
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if isinstance(db_field, models.DateTimeField) and isinstance(
            getattr(field, "widget", None), AdminSplitDateTime
        ):
            name = capfirst(db_field.verbose_name)
            field.widget.widgets[0].attrs["aria-label"] = f"{name}: date"
            field.widget.widgets[1].attrs["aria-label"] = f"{name}: time"
        return field


class PriorAuthorizationInline(ReadOnlyInline):
    model = PriorAuthorization
    fields = ["status", "reference_number", "updated_at"]
    readonly_fields = fields
    show_change_link = True


class ReferralInline(ReadOnlyInline):
    model = CaseReferral
    fields = ["status", "updated_at"]
    readonly_fields = fields
    show_change_link = True


class NetworkGapInline(ReadOnlyInline):
    model = NetworkGapException
    fields = ["status", "reference_number", "updated_at"]
    readonly_fields = fields
    show_change_link = True


class OpinionInline(ReadOnlyInline):
    model = Opinion
    fields = [
        "reviewer",
        "role",
        "round",
        "claimed_at",
        "released_at",
        "radpeer",
        "signed_at",
        "urgent_finding",
        "urgent_finding_note",
    ]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "reports"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reviewer")


class FindingContactInline(ReadOnlyInline):
    model = FindingContact
    fields = ["at", "by", "party", "outcome", "note"]
    readonly_fields = fields
    verbose_name_plural = "calls about the finding or result"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by")


class AuthorizationInline(ReadOnlyInline):
    model = Authorization
    fields = ["signed_name", "signer_relationship", "signed_at", "expires_on", "revoked_at"]
    readonly_fields = fields


class MessageInline(admin.TabularInline):
    """The case's messages, read-only: the care team writes through the admin action, which
    also tells the patient; a row added here would reach nobody."""

    model = Message
    fields = ["created_at", "author", "from_care_team", "body", "read_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "messages with the patient"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")

    def has_view_permission(self, request, obj=None) -> bool:
        # Messages are part of the case: whoever may see the case may read them.
        return request.user.has_perm("requests_app.view_case")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
