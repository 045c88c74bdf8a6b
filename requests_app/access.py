"""Loading user data always goes through a scope: anyone else gets a 404, never a hint."""

from uuid import UUID

from django.shortcuts import get_object_or_404

from .models import Case


def get_case_for_patient(user, code: UUID) -> Case:
    return get_object_or_404(
        Case.objects.for_patient(user).select_related("requested_subspecialty"), code=code
    )
