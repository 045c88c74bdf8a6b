"""Inlines for the case's admin page that come from the messaging side of the app."""

from django.contrib import admin

from .models import Message


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
