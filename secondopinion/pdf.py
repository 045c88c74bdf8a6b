"""The one place our PDFs are made: letters, cost summaries, signed reports.

Rendered with WeasyPrint from our templates, with a URL fetcher that fetches nothing. The
templates carry their own styles and no images, and what a patient typed must never make the
server ask for a URL (an internal address, a file on this machine). Any app may import this
module; it imports none of them.
"""

import logging
from functools import cache

from django.template.loader import render_to_string

# WeasyPrint logs every layout step at INFO and quotes the document (each refused URL) in its
# warnings; our logs carry what we did, not what a letter said.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.WARNING)


class FetchRefused(ValueError):
    """Raised for every URL a document asks for (WeasyPrint leaves the resource out)."""


@cache
def _weasyprint():
    """WeasyPrint, imported on first use: loading it (Pango, fonts) takes a while, and only PDFs
    need it.

    Importing it tells Pillow, for the whole process, to draw truncated images rather than refuse
    them. Our documents carry no images; the patients' images decoded in the same process must
    be refused when cut short, so that setting is put back.
    """
    import weasyprint
    import weasyprint.urls
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return weasyprint


@cache
def _fetch_nothing_class():
    # WeasyPrint reads settings off its own fetcher class, so ours derives from it.
    class FetchNothing(_weasyprint().urls.URLFetcher):
        def fetch(self, url, headers=None):
            raise FetchRefused("PDFs are rendered without fetching anything.")

    return FetchNothing


def fetch_nothing():
    """A WeasyPrint URL fetcher that refuses every URL, data: and file: included."""
    return _fetch_nothing_class()()


def html_to_pdf(html: str) -> bytes:
    """HTML to PDF, fetching nothing (no base URL either: relative links go nowhere)."""
    return _weasyprint().HTML(string=html, url_fetcher=fetch_nothing()).write_pdf()


def render_pdf(template_name: str, context: dict) -> bytes:
    """A template rendered to HTML, then to PDF."""
    return html_to_pdf(render_to_string(template_name, context))
