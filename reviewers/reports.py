"""The signed report as a PDF, made with WeasyPrint from a template."""

from datetime import datetime

from django.template.loader import render_to_string

from records.models import Study

from .models import Opinion


def render_pdf(opinion: Opinion, *, signed_name: str, signed_at: datetime) -> bytes:
    """The report a reviewer signs: reading, comparison, recommendations, patient summary.

    The patient downloads it, so it says whether a difference may matter, never the RADPEER grade
    (a peer-learning score, kept for reviewers and coordinators).
    """
    # Imported here: WeasyPrint loads Pango and fonts, which only signing needs.
    from weasyprint import HTML

    case = opinion.case
    html = render_to_string(
        "reviewers/report_pdf.html",
        {
            "opinion": opinion,
            "case": case,
            "reviewer": opinion.reviewer,
            "studies": Study.objects.filter(case=case),
            "signed_name": signed_name,
            "signed_at": signed_at,
        },
    )
    # No base_url: the template inlines everything, so rendering never fetches anything.
    return HTML(string=html).write_pdf()
