"""The PDFs this app makes: the network gap exception letter and the patient's cost summary.

Rendered on request from rows we keep (never stored as files): the letter from the text saved
when it was prepared, the summary from the current coverage check.
"""

import logging

from django.template.loader import render_to_string

# WeasyPrint logs every layout step at INFO; our logs should carry what we did, not that.
logging.getLogger("weasyprint").setLevel(logging.WARNING)


def render_pdf(template_name: str, context: dict) -> bytes:
    """HTML to PDF. Nothing is fetched: the templates carry their own styles, and text a
    patient typed must never make the server request a URL."""
    # Imported here: loading WeasyPrint (Pango, fonts) takes a while, and only PDFs need it.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = render_to_string(template_name, context)
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).write_pdf()
