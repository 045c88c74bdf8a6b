"""Every PDF we make is rendered by one module whose renderer fetches nothing."""

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.template import Context, Template
from PIL import Image
from pypdf import PdfReader

from secondopinion import pdf

ROOT = Path(__file__).resolve().parents[2]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def loopback():
    """A server on 127.0.0.1 that would hand out an image and a stylesheet, counting requests."""
    asked = []
    image = png()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = image if self.path.endswith(".png") else b"body { color: red }"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def images_in(content: bytes) -> int:
    return sum(len(page.images) for page in PdfReader(io.BytesIO(content)).pages)


ATTACK = Template(
    """<html><head>
<link rel="stylesheet" href="{{ base }}/style.css">
<style>@import url("{{ base }}/import.css"); body { background: url("{{ base }}/bg.png") }</style>
</head><body>
<h1>Letter for {{ name }}</h1>
<img src="{{ base }}/photo.png">
<img src="file:///etc/passwd">
<img src="file://{{ local }}">
<object data="{{ base }}/object.png"></object>
</body></html>"""
)


def test_a_rendered_template_fetches_no_url_over_http_or_from_files(loopback, tmp_path):
    base, asked = loopback
    local = tmp_path / "local.png"
    local.write_bytes(png())
    html = ATTACK.render(Context({"base": base, "name": "Alice Moreau", "local": local}))
    content = pdf.html_to_pdf(html)
    assert content.startswith(b"%PDF")
    assert asked == []
    assert images_in(content) == 0  # neither the loopback images nor the local file


def test_the_same_page_does_fetch_with_weasyprints_default_fetcher(loopback, tmp_path):
    """The attack page is a real one: left to itself, WeasyPrint fetches from it."""
    from weasyprint import HTML

    base, asked = loopback
    local = tmp_path / "local.png"
    local.write_bytes(png())
    html = ATTACK.render(Context({"base": base, "name": "Alice Moreau", "local": local}))
    content = HTML(string=html).write_pdf()
    assert "/photo.png" in asked
    assert images_in(content) >= 2


def test_the_fetcher_refuses_every_url():
    fetcher = pdf.fetch_nothing()
    for url in ("http://127.0.0.1/x", "https://example.org/x", "file:///etc/passwd", "data:,x"):
        with pytest.raises(pdf.FetchRefused):
            fetcher(url)


def test_every_pdf_is_made_by_the_one_renderer():
    """WeasyPrint is used in secondopinion/pdf.py only."""
    sources = [
        path
        for folder in ("secondopinion", "requests_app", "records", "insurance", "reviewers")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "secondopinion" / "pdf.py"
    ]
    imports = re.compile(r"^\s*(from|import) weasyprint\b", re.MULTILINE)
    users = [str(p.relative_to(ROOT)) for p in sources if imports.search(p.read_text())]
    assert users == []


def test_the_pdf_module_imports_no_app():
    text = (ROOT / "secondopinion" / "pdf.py").read_text()
    for app in ("requests_app", "records", "insurance", "reviewers"):
        assert f"from {app}" not in text and f"import {app}" not in text
