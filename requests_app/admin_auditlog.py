"""The audit log in the admin: read-only, filtered by case, person, action and day, and one case's
access history exported as CSV (the accounting of disclosures a patient may ask for)."""

import csv
import io
from datetime import UTC

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path

from .admin_audit import AuditedModelAdmin
from .audit import serve_file
from .models import AuditEvent, Case

HISTORY_COLUMNS = ["when (UTC)", "who", "action", "record", "record code", "from address", "shown"]


class CaseFilter(admin.SimpleListFilter):
    """One case's records, reached from the case's page (its code, which is no PHI)."""

    title = "case"
    parameter_name = "case"

    def lookups(self, request, model_admin):
        code = self.value()
        case = Case.objects.filter(code=code).first() if _is_uuid(code) else None
        return [(code, f"Case {case.short_code}")] if case else []

    def queryset(self, request, queryset):
        code = self.value()
        if code is None:
            return queryset
        return queryset.filter(case_code=code) if _is_uuid(code) else queryset.none()


class ActorFilter(admin.SimpleListFilter):
    """Who acted: the people in the chosen case's log, or else the staff and reviewers."""

    title = "person"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.order_by("email")
        code = request.GET.get(CaseFilter.parameter_name)
        if _is_uuid(code):
            ids = AuditEvent.objects.filter(case_code=code).values("actor")
            users = users.filter(pk__in=ids)
        else:
            users = users.filter(Q(is_staff=True) | Q(reviewer_profile__isnull=False))
        return [(str(user.pk), user.email) for user in users[:50]]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(actor_id=value) if value.isdigit() else queryset.none()


def _is_uuid(value: str | None) -> bool:
    try:
        return value is not None and bool(Case._meta.get_field("code").to_python(value))
    except ValidationError:  # a malformed code in the address selects nothing
        return False


def history_csv(case: Case) -> bytes:
    """Every record about this case, oldest first, as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HISTORY_COLUMNS)
    events = AuditEvent.objects.filter(case_code=case.code).select_related("actor").order_by("at")
    for event in events:
        writer.writerow(
            [
                event.at.astimezone(UTC).isoformat(timespec="seconds"),
                event.actor.email if event.actor else "",
                event.get_action_display(),
                event.target_type,
                event.target_code,
                event.ip_address or "",
                " ".join(event.shown),
            ]
        )
    return out.getvalue().encode()


@admin.register(AuditEvent)
class AuditEventAdmin(AuditedModelAdmin):
    """Read-only: the audit log is append-only for everyone, superusers included."""

    list_display = ["at", "actor", "action", "target_type", "target_code", "case_code"]
    list_filter = [CaseFilter, ActorFilter, "action", ("at", admin.DateFieldListFilter)]
    list_select_related = ["actor"]
    search_fields = ["case_code", "target_code", "actor__email"]

    def get_urls(self):
        history = path(
            "case/<int:pk>/history.csv",
            self.admin_site.admin_view(self.history_view),
            name="requests_app_auditevent_case_history",
        )
        return [history, *super().get_urls()]

    def history_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """One case's access history as CSV; the export is itself a record of the log."""
        case = get_object_or_404(Case, pk=pk)
        if not (
            self.has_view_permission(request) and request.user.has_perm("requests_app.view_case")
        ):
            raise PermissionDenied
        return serve_file(
            request,
            history_csv(case),
            case=case,
            target_type="access-history",
            target_codes=[case.code],
            content_type="text/csv",
            filename=f"access-history-{case.short_code}.csv",
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
