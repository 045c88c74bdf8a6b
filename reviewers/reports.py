"""The signed report as a PDF, made from a template by the site's PDF renderer."""

from datetime import datetime

from secondopinion.pdf import render_pdf as render_template_pdf

from .models import Opinion


def render_pdf(opinion: Opinion, *, signed_name: str, signed_at: datetime) -> bytes:
    """The report a reviewer signs: reading, comparison, recommendations, patient summary.

    The patient downloads it, so it says whether a difference may matter, never the RADPEER grade
    (a peer-learning score, kept for reviewers and coordinators).
    """
    case = opinion.case
    return render_template_pdf(
        "reviewers/report_pdf.html",
        {
            "opinion": opinion,
            "case": case,
            "reviewer": opinion.reviewer,
            "studies": case.studies.all(),
            "signed_name": signed_name,
            "signed_at": signed_at,
        },
    )
