"""The admin's audit trail: every change a coordinator makes, and every case record they open.

Django's own LogEntry rows stay (they feed each object's history page); beside them each change
writes an AuditEvent, the append-only log read per case, so the admin is audited like the app.
"""

from functools import wraps
from uuid import UUID

from django.contrib import admin
from django.db import models
from django.template.response import TemplateResponse

from .admin_search import PrivateSearchMixin
from .audit import record_access
from .models import AuditEvent, Case

# The relations that lead from a case's record (a document, an upload's file, a reading's
# question...) back to its case, followed in this order.
CASE_PATHS = ("case", "upload", "opinion", "study", "series")


def case_code_of(obj: models.Model) -> UUID | None:
    """The code of the case a record belongs to, or None for shared data (payers, rules)."""
    if isinstance(obj, Case):
        return obj.code
    for name in CASE_PATHS:
        related = getattr(obj, name, None)
        if isinstance(related, models.Model):
            return case_code_of(related)
    return None


class AuditedModelAdmin(PrivateSearchMixin, admin.ModelAdmin):
    """A ModelAdmin whose additions, changes, deletions, actions and case reads are audited,
    and whose list's search never travels in a URL."""

    def _audit(self, request, obj: models.Model, *, action: str, what: str = "") -> None:
        target_type = what or obj._meta.model_name
        record_access(
            request,
            action=action,
            target_type=target_type[: AuditEvent._meta.get_field("target_type").max_length],
            target_code=getattr(obj, "code", None) or obj.pk,
            case_code=case_code_of(obj),
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, action=AuditEvent.Action.ADD)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, action=AuditEvent.Action.CHANGE)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        # Called before the rows go, by the delete page and the "delete selected" action alike.
        for obj in queryset:
            self._audit(request, obj, action=AuditEvent.Action.DELETE)
        return super().log_deletions(request, queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            # Deleting is already audited by log_deletions, once per row.
            name: (func if name == "delete_selected" else self._audited_action(func, name), *rest)
            for name, (func, *rest) in actions.items()
        }

    def _audited_action(self, func, name: str):
        @wraps(func)
        def run(modeladmin, request, queryset):
            # Listed first: the action may move rows out of this admin's queryset.
            targets = list(queryset)
            response = func(modeladmin, request, queryset)
            if isinstance(response, TemplateResponse):
                return response  # a page asking for details first: nothing changed yet
            for obj in targets:
                what = f"{obj._meta.model_name}.{name}"
                self._audit(request, obj, action=AuditEvent.Action.ADMIN_ACTION, what=what)
            return response

        return run

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        # A page that shows a case's record is a read of it; saves are audited as changes.
        shown = (getattr(response, "context_data", None) or {}).get("original")
        if request.method == "GET" and shown is not None and case_code_of(shown) is not None:
            self._audit(request, shown, action=AuditEvent.Action.VIEW)
        return response
