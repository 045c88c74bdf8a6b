"""The admin's audit trail: every change a coordinator makes, and every case record they open.

Django's own LogEntry rows stay (they feed each object's history page); beside them each change
writes an AuditEvent, the append-only log read per case, so the admin is audited like the app.
"""

from functools import cache, wraps
from uuid import UUID

from django.contrib import admin
from django.contrib.auth import get_user_model
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


def _belongs_to_someone(model: type[models.Model], seen: frozenset = frozenset()) -> bool:
    """A person, a case, or a row that hangs from one of them (a document, a reviewer's profile)."""
    if model is get_user_model() or issubclass(model, Case):
        return True
    return any(
        _belongs_to_someone(field.related_model, seen | {model})
        for field in model._meta.concrete_fields
        if field.many_to_one or field.one_to_one
        if field.related_model not in seen | {model}
    )


@cache
def _owner_links(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(
        field.name
        for field in model._meta.concrete_fields
        if (field.many_to_one or field.one_to_one) and _belongs_to_someone(field.related_model)
    )


def owner_links(model: type[models.Model], *, parent: type[models.Model] | None = None) -> list:
    """The fields that say whom a row belongs to: its patient, its case, its reviewer, its
    author. An inline's link to the page's own object (`parent`) is not a field of its form."""
    return [
        name
        for name in _owner_links(model)
        if parent is None or model._meta.get_field(name).related_model is not parent
    ]


class OwnerLinksReadOnly:
    """Ownership never changes through a form: owner links are read-only on every admin page,
    add and change forms and inlines alike, and a row that cannot exist without one (a case
    without its patient) is not added here but by the service that makes it."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + [name for name in owner_links(self.model) if name not in fields]

    def has_add_permission(self, request, *args) -> bool:
        required = [
            name for name in owner_links(self.model) if not self.model._meta.get_field(name).null
        ]
        return not required and super().has_add_permission(request, *args)

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:
            # Inlines come from every app; the rule is applied here so none is missed.
            declared = list(inline.readonly_fields)
            links = owner_links(inline.model, parent=self.model)
            inline.readonly_fields = declared + [name for name in links if name not in declared]
        return inlines


class AuditedModelAdmin(OwnerLinksReadOnly, PrivateSearchMixin, admin.ModelAdmin):
    """A ModelAdmin whose additions, changes, deletions, actions and case reads are audited,
    whose owner links are read-only, and whose list's search never travels in a URL."""

    def _audit(
        self, request, obj: models.Model, *, action: str, what: str = "", shown=None
    ) -> None:
        target_type = what or obj._meta.model_name
        record_access(
            request,
            action=action,
            target_type=target_type[: AuditEvent._meta.get_field("target_type").max_length],
            target_code=getattr(obj, "code", None) or obj.pk,
            case_code=case_code_of(obj),
            shown=shown,
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

    def records_shown(self, request, obj) -> list[str]:
        """What the change page shows besides the record itself ("kind:code"), for its audit."""
        return []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        # A page that shows a case's record is a read of it; saves are audited as changes.
        shown = (getattr(response, "context_data", None) or {}).get("original")
        if request.method == "GET" and shown is not None and case_code_of(shown) is not None:
            self._audit(
                request,
                shown,
                action=AuditEvent.Action.VIEW,
                shown=self.records_shown(request, shown),
            )
        return response
