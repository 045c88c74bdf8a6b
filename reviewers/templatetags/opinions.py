"""The report section of the patient's case page.

The case page belongs to requests_app; it includes `reviewers/_case_report.html`, which asks this
tag for what to show. Showing a report to the patient is a read of it, so the tag writes the
audit record: the include is the only place that knows the report was displayed.
"""

from django import template

from requests_app.audit import record_access
from requests_app.models import AuditEvent, Case

from ..forms import QuestionForm
from ..models import Opinion, ReviewerChoice
from ..readers import latest_reading, third_opinion_pending
from ..services import MAX_FOLLOW_UP_QUESTIONS, can_request_third_opinion

register = template.Library()


@register.simple_tag(takes_context=True)
def patient_opinions(context, case: Case) -> dict:
    request = context.get("request")
    signed = list(
        Opinion.objects.filter(case=case, signed_at__isnull=False)
        .select_related("reviewer")
        .prefetch_related("questions")
        .order_by("round", "signed_at")
    )
    if request is not None:
        for opinion in signed:
            record_access(
                request,
                action=AuditEvent.Action.VIEW,
                target_type="opinion-report",
                target_code=opinion.code,
                case_code=case.code,
            )
    latest = latest_reading(signed)
    choice = ReviewerChoice.objects.filter(case=case).select_related("reviewer").first()
    return {
        "signed": signed,
        "latest": latest,
        "choice": choice,
        "third_requested": third_opinion_pending(case, latest),
        "can_request_third": can_request_third_opinion(case),
        "max_questions": MAX_FOLLOW_UP_QUESTIONS,
        "question_form": QuestionForm(),
    }
