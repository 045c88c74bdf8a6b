from django.db import transaction

from requests_app.models import Case, CaseEvent
from requests_app.services import ensure_editable

from .models import CaseInsurance


def save_case_insurance(case: Case, *, by, data: dict) -> CaseInsurance:
    """Store the insurance the patient told us about (draft or records-needed cases only)."""
    ensure_editable(case)
    with transaction.atomic():
        insurance, created = CaseInsurance.objects.update_or_create(case=case, defaults=data)
        if created:
            CaseEvent.objects.create(case=case, actor=by, message="Insurance details added.")
    return insurance
