from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from requests_app.models import Case
from requests_app.roles import is_reviewer


@login_required
def portal(request: HttpRequest) -> HttpResponse:
    if not is_reviewer(request.user):
        raise PermissionDenied("This page is for reviewing specialists.")
    profile = request.user.reviewer_profile
    visible = Case.objects.for_reviewer(request.user).select_related("queue")
    context = {
        "profile": profile,
        "subspecialties": profile.subspecialties.all(),
        "my_cases": visible.filter(assigned_reviewer=profile),
        "queued": visible.filter(assigned_reviewer__isnull=True),
    }
    return render(request, "reviewers/portal.html", context)
