"""What happens when a patient adds a written record: the right file, and every wrong one."""

import hashlib
import html
import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from pypdf import PdfWriter
from pypdf.annotations import Link
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    PdfObject,
    TextStringObject,
)

from records.models import Document, Upload
from requests_app.models import AuditEvent
from tests.conftest import make_case, make_pdf, pdf_upload


def _post_document(client, case, upload, kind="original_report"):
    return client.post(
        reverse("records:document-add", args=[case.code]),
        {"kind": kind, "file": upload},
        follow=True,
    )


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "gray").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def alices_case(alice, client):
    client.force_login(alice)
    return make_case(alice, complete=True, clinical_question="Is this lesion benign?")


def test_pdf_report_is_stored_with_its_hash_and_pages(client, alices_case):
    response = _post_document(client, alices_case, pdf_upload(pages=3))
    assert "Original radiology report added." in response.content.decode()
    doc = alices_case.documents.get()
    assert (doc.kind, doc.page_count) == (Document.Kind.ORIGINAL_REPORT, 3)
    assert doc.file.name == f"cases/{alices_case.code}/documents/{doc.code}.pdf"
    with doc.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == doc.sha256


WRONG_FILES = [
    ("photo.jpg", _jpeg(), "This is a picture (JPEG), not a PDF."),
    ("empty.pdf", b"", "This file is empty (0 bytes)."),
    ("notes.pdf", b"Just some text pretending to be a PDF", "This file is not a PDF."),
    ("locked.pdf", make_pdf(password="secret"), "protected by a password"),
    ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50, "seems to be damaged"),
]


@pytest.mark.parametrize(("name", "content", "message"), WRONG_FILES)
def test_wrong_file_gets_a_clear_message_and_nothing_is_lost(
    client, alices_case, name, content, message
):
    _post_document(client, alices_case, pdf_upload("first.pdf"))
    response = _post_document(client, alices_case, SimpleUploadedFile(name, content))
    page = response.content.decode()
    assert message in page
    assert f"“{name}” was not added." in page
    alices_case.refresh_from_db()
    assert alices_case.clinical_question == "Is this lesion benign?"
    assert [d.original_name for d in alices_case.documents.all()] == ["first.pdf"]


def test_200_mb_pdf_is_refused_with_its_size(client, alices_case, tmp_path):
    big = tmp_path / "huge.pdf"
    with big.open("wb") as handle:
        handle.write(make_pdf())
        handle.truncate(200 * 1024 * 1024)  # a sparse file: no 200 MB of memory needed
    with big.open("rb") as handle:
        response = _post_document(client, alices_case, handle)
    page = response.content.decode()
    assert "This file is 200.0\xa0MB" in page
    assert "we accept up to 25.0\xa0MB" in page
    assert not alices_case.documents.exists()


def test_download_is_audited_and_sent_as_attachment(client, alice, alices_case):
    _post_document(client, alices_case, pdf_upload("mri-report.pdf"))
    doc = alices_case.documents.get()
    response = client.get(reverse("records:document-download", args=[alices_case.code, doc.code]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    audit = AuditEvent.objects.get(action=AuditEvent.Action.DOWNLOAD)
    assert (audit.actor, audit.target_code, audit.case_code) == (
        alice,
        str(doc.code),
        alices_case.code,
    )


def test_a_document_is_kept_under_an_opaque_key_and_downloads_under_its_name(client, alices_case):
    _post_document(client, alices_case, pdf_upload("Jane_Doe_MRI_1975.pdf"))
    doc = alices_case.documents.get()
    assert "Jane" not in doc.file.name and doc.file.name.endswith(f"/{doc.code}.pdf")
    assert doc.original_name == "Jane_Doe_MRI_1975.pdf"
    response = client.get(reverse("records:document-download", args=[alices_case.code, doc.code]))
    assert 'filename="Jane_Doe_MRI_1975.pdf"' in response["Content-Disposition"]


def test_removing_a_document_deletes_the_stored_file(client, alices_case):
    _post_document(client, alices_case, pdf_upload())
    doc = alices_case.documents.get()
    storage = doc.file.storage
    client.post(reverse("records:document-delete", args=[alices_case.code, doc.code]))
    assert not alices_case.documents.exists()
    assert not storage.exists(doc.file.name)


def test_images_keep_their_folder_layout(client, alices_case):
    files = [
        SimpleUploadedFile("DICOMDIR", b"\x00" * 128 + b"DICM" + b"\x00" * 64),
        SimpleUploadedFile("IM0001", b"\x00" * 128 + b"DICM" + b"\x01" * 64),
    ]
    response = client.post(
        reverse("records:images-add", args=[alices_case.code]),
        {"folder": files, "relative_paths": '["CD/DICOMDIR", "CD/DICOM/../IM0001"]'},
        follow=True,
    )
    assert "2 image files added." in response.content.decode()
    upload = Upload.objects.get(case=alices_case)
    assert upload.status == Upload.Status.RECEIVED
    assert sorted(upload.files.values_list("relative_path", flat=True)) == [
        "CD/DICOM/IM0001",
        "CD/DICOMDIR",
    ]
    for row in upload.files.all():
        assert row.key == f"{upload.prefix}{row.code}"
        assert default_storage.exists(row.key)


@pytest.mark.parametrize(
    ("content", "message"),
    [(make_pdf(), "These are PDF documents, not images."), (_jpeg(), "ordinary pictures")],
)
def test_pdf_or_photos_as_images_are_refused(client, alices_case, content, message):
    response = client.post(
        reverse("records:images-add", args=[alices_case.code]),
        {"files": [SimpleUploadedFile("scan.x", content)]},
        follow=True,
    )
    assert message in response.content.decode()
    assert not Upload.objects.filter(case=alices_case).exists()


# --- PDFs that could act on their own --------------------------------------------------------

SAFETY = (
    "We could not accept this file for safety; ask the imaging centre (or your doctor's office) "
    "for a new copy."
)


def _pdf(build) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    build(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _action(kind: str, **entries) -> DictionaryObject:
    action = DictionaryObject({NameObject("/S"): NameObject(kind)})
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = (
            value if isinstance(value, PdfObject) else TextStringObject(value)
        )
    return action


def _on_open(action: DictionaryObject):
    def build(writer: PdfWriter) -> None:
        writer.root_object[NameObject("/OpenAction")] = action

    return build


def _link(writer: PdfWriter, **extra) -> DictionaryObject:
    annotation = Link(rect=(50, 50, 200, 80), url="https://example.org/report-help")
    for key, value in extra.items():
        annotation[NameObject(f"/{key}")] = value
    writer.add_annotation(page_number=0, annotation=annotation)
    return annotation


def _xfa(writer: PdfWriter) -> None:
    template = DecodedStreamObject()
    template.set_data(b"<xdp:xdp><template><script>app.launchURL('https://x.test')</script>")
    writer.root_object[NameObject("/AcroForm")] = DictionaryObject(
        {
            NameObject("/Fields"): ArrayObject(),
            NameObject("/XFA"): writer._add_object(template),
        }
    )


def _document_aa(writer: PdfWriter) -> None:
    writer.root_object[NameObject("/AA")] = DictionaryObject(
        {NameObject("/WC"): _action("/URI", URI="https://x.test/closed")}
    )


def _page_aa(writer: PdfWriter) -> None:
    writer.pages[0][NameObject("/AA")] = DictionaryObject(
        {NameObject("/O"): _action("/URI", URI="https://x.test/opened")}
    )


def _annotation_aa(writer: PdfWriter) -> None:
    aa = DictionaryObject({NameObject("/E"): _action("/GoToR", F="other.pdf")})
    _link(writer, AA=aa)


def _import_data_on_click(writer: PdfWriter) -> None:
    _link(writer, A=_action("/ImportData", F="answers.fdf"))


def _submit_on_click(writer: PdfWriter) -> None:
    _link(writer, A=_action("/SubmitForm", F="https://x.test/collect"))


def _embedded_file(writer: PdfWriter) -> None:
    writer.add_attachment("results.exe", b"MZ not really a program")


def _file_attachment_annotation(writer: PdfWriter) -> None:
    data = DecodedStreamObject()
    data.set_data(b"MZ")
    spec = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Filespec"),
            NameObject("/F"): TextStringObject("a.exe"),
            NameObject("/EF"): DictionaryObject({NameObject("/F"): writer._add_object(data)}),
        }
    )
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/FileAttachment"),
            NameObject("/Rect"): ArrayObject([NumberObject(n) for n in (0, 0, 20, 20)]),
            NameObject("/FS"): spec,
        }
    )
    writer.add_annotation(page_number=0, annotation=annotation)


def _next_after_a_harmless_start(writer: PdfWriter) -> None:
    start = _action(
        "/GoTo", D=ArrayObject([writer.pages[0].indirect_reference, NameObject("/Fit")])
    )
    start[NameObject("/Next")] = _action("/URI", URI="https://x.test/next")
    writer.root_object[NameObject("/OpenAction")] = start


ACTIVE_PDFS = [
    pytest.param(_xfa, id="xfa_form"),
    pytest.param(_on_open(_action("/SubmitForm", F="https://x.test/collect")), id="open_submit"),
    pytest.param(_on_open(_action("/URI", URI="https://x.test/")), id="open_uri"),
    pytest.param(_on_open(_action("/GoToR", F="other.pdf")), id="open_gotor"),
    pytest.param(_on_open(_action("/GoToE")), id="open_gotoe"),
    pytest.param(_on_open(_action("/Launch", F="calc.exe")), id="open_launch"),
    pytest.param(_on_open(_action("/JavaScript", JS="app.alert(1)")), id="open_javascript"),
    pytest.param(_on_open(_action("/Rendition", OP=NumberObject(0))), id="open_rendition"),
    pytest.param(_on_open(_action("/RichMediaExecute")), id="open_richmedia"),
    pytest.param(_on_open(_action("/ImportData", F="answers.fdf")), id="open_import_data"),
    pytest.param(_next_after_a_harmless_start, id="open_next_chain"),
    pytest.param(_document_aa, id="document_additional_actions"),
    pytest.param(_page_aa, id="page_additional_actions"),
    pytest.param(_annotation_aa, id="annotation_additional_actions"),
    pytest.param(_import_data_on_click, id="click_import_data"),
    pytest.param(_submit_on_click, id="click_submit_form"),
    pytest.param(_embedded_file, id="embedded_file"),
    pytest.param(_file_attachment_annotation, id="file_attachment_annotation"),
]


@pytest.mark.parametrize("build", ACTIVE_PDFS)
def test_a_pdf_that_could_act_on_its_own_is_refused_calmly(client, alices_case, build):
    response = _post_document(client, alices_case, SimpleUploadedFile("r.pdf", _pdf(build)))
    assert SAFETY in html.unescape(response.content.decode())
    assert not alices_case.documents.exists()


def test_an_ordinary_pdf_with_a_link_and_a_start_page_is_accepted(client, alices_case):
    def build(writer: PdfWriter) -> None:
        _link(writer)
        writer.root_object[NameObject("/OpenAction")] = ArrayObject(
            [writer.pages[0].indirect_reference, NameObject("/Fit")]
        )

    response = _post_document(client, alices_case, SimpleUploadedFile("r.pdf", _pdf(build)))
    assert "Original radiology report added." in response.content.decode()
