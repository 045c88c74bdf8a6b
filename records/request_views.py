"""Pages where a patient asks the facility that did the scan for their records, and the clock."""

from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from requests_app.access import get_case_for_patient
from requests_app.audit import refusals_audited, serve_file
from requests_app.models import Case

from . import facility_requests
from .access_rules import right_of_access
from .facility_requests import RecordsRequestError
from .models import RecordsRequest

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
WANTS = ("wants_images", "wants_report", "wants_prior_mammograms", "wants_pathology")


class RecordsRequestForm(forms.ModelForm):
    class Meta:
        model = RecordsRequest
        fields = facility_requests.DRAFT_FIELDS
        labels = {"exam_description": "Which scan"}
        help_texts = {
            "facility_address": "Where the letter goes: the medical records (health information) "
            "department. Their website or the front desk can tell you.",
            "send_to_us": "We add them to your request when they arrive. This uses your signed "
            "HIPAA authorization, which goes with the letter.",
            "send_to": "Your mailing address for a CD or USB stick, or your email address.",
        }
        widgets = {
            "exam_date": DATE_INPUT,
            "facility_address": forms.Textarea(attrs={"rows": 3}),
            "send_to": forms.Textarea(attrs={"rows": 3}),
            "delivery": forms.RadioSelect,
        }

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        if not case.is_mammogram:
            del self.fields["wants_prior_mammograms"]
            del self.fields["wants_pathology"]

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(name) for name in WANTS):
            self.add_error(None, "Choose at least one record to ask for.")
        if (
            cleaned.get("delivery") != RecordsRequest.Delivery.PORTAL
            and not cleaned.get("send_to_us")
            and not cleaned.get("send_to")
        ):
            self.add_error("send_to", "Tell the facility where to send your records.")
        return cleaned


class SignForm(forms.Form):
    service_fields = ("signed_name",)  # `agree` is only the patient's confirmation
    signed_name = forms.CharField(label="Type your full name to sign", max_length=200)
    agree = forms.BooleanField(label="I have read this letter and I ask for these records.")


class SentForm(forms.Form):
    service_fields = ("sent_on", "sent_by")
    sent_on = forms.DateField(label="The day you sent it", widget=DATE_INPUT)
    sent_by = forms.ChoiceField(
        label="How you sent it",
        choices=RecordsRequest.SentBy.choices,
        widget=forms.RadioSelect,
        help_text="The 30 days count from the day the facility receives it: by mail we allow "
        "for the post.",
    )


class ReceiptForm(forms.Form):
    service_fields = ("received_request_on",)
    received_request_on = forms.DateField(
        label="The day the facility received your request",
        widget=DATE_INPUT,
        help_text="From a fax or delivery confirmation, or what the facility told you.",
    )


class ExtensionForm(forms.Form):
    service_fields = ("noted_on", "new_due_on", "reason")
    noted_on = forms.DateField(label="Date of the facility's written notice", widget=DATE_INPUT)
    new_due_on = forms.DateField(
        label="The date they said they will act by",
        widget=DATE_INPUT,
        required=False,
        help_text="The notice must give one; leave empty if it did not.",
    )
    reason = forms.CharField(label="The reason they gave", max_length=300, required=False)


class ReceivedForm(forms.Form):
    service_fields = ("received_on",)
    received_on = forms.DateField(label="The day they arrived", widget=DATE_INPUT)


def _load(request: HttpRequest, code: UUID, records_request: UUID) -> RecordsRequest:
    """The patient's own request on their own case; a 404 for anyone else."""
    case = get_case_for_patient(request.user, code)
    found = get_object_or_404(case.records_requests, code=records_request)
    found.case = case
    return found


def _detail_page(records_request: RecordsRequest) -> HttpResponse:
    return redirect(
        "records:records-request-detail", records_request.case.code, records_request.code
    )


def _render_detail(
    request: HttpRequest, records_request: RecordsRequest, *, status: int = 200, **bound
) -> HttpResponse:
    today = timezone.localdate()
    context = {
        **facility_requests.letter_context(records_request),
        "sign_form": SignForm(initial={"signed_name": records_request.case.patient_name}),
        "sent_form": SentForm(initial={"sent_on": today}),
        "receipt_form": ReceiptForm(initial={"received_request_on": today}),
        "expected_receipt": facility_requests.receipt_on(records_request),
        "authorization_lapsed": facility_requests.relied_on_authorization_lapsed(records_request),
        "extension_form": ExtensionForm(initial={"noted_on": today}),
        "received_form": ReceivedForm(initial={"received_on": today}),
        **bound,
    }
    return render(request, "records/records_request_detail.html", context, status=status)


def _render_form(request: HttpRequest, case: Case, form, records_request=None) -> HttpResponse:
    context = {
        "case": case,
        "form": form,
        "rr": records_request,
        **right_of_access(timezone.localdate()),
    }
    status = 400 if form.is_bound else 200
    return render(request, "records/records_request_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def records_request_new(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    if request.method == "GET":
        initial = facility_requests.initial_values(case)
        return _render_form(request, case, RecordsRequestForm(initial=initial, case=case))
    form = RecordsRequestForm(request.POST, case=case)
    if not form.is_valid():
        return _render_form(request, case, form)
    records_request = facility_requests.create_draft(
        case, by=request.user, fields=form.cleaned_data
    )
    return _detail_page(records_request)


@login_required
@require_http_methods(["GET", "POST"])
def records_request_edit(request: HttpRequest, code: UUID, records_request: UUID) -> HttpResponse:
    found = _load(request, code, records_request)
    if found.sent_on:
        messages.info(request, "This request has been sent, so it can no longer be changed.")
        return _detail_page(found)
    if request.method == "GET":
        return _render_form(
            request, found.case, RecordsRequestForm(instance=found, case=found.case)
        )
    form = RecordsRequestForm(request.POST, instance=found, case=found.case)
    if not form.is_valid():
        return _render_form(request, found.case, form, found)
    try:
        facility_requests.update_draft(found, by=request.user, fields=form.cleaned_data)
    except RecordsRequestError as exc:
        messages.error(request, str(exc))
    return _detail_page(found)


@login_required
@require_GET
def records_request_detail(request: HttpRequest, code: UUID, records_request: UUID) -> HttpResponse:
    return _render_detail(request, _load(request, code, records_request))


def _step(
    request: HttpRequest,
    code: UUID,
    records_request: UUID,
    *,
    form_class: type[forms.Form],
    form_name: str,
    service,
    done,
) -> HttpResponse:
    """One step of the request's clock: clean the form, call the service, say what happened."""
    found = _load(request, code, records_request)
    form = form_class(request.POST)
    if not form.is_valid():
        return _render_detail(request, found, status=400, **{form_name: form})
    fields = {k: v for k, v in form.cleaned_data.items() if k in form_class.service_fields}
    try:
        service(found, by=request.user, **fields)
    except RecordsRequestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done(found))
    return _detail_page(found)


@login_required
@require_POST
def records_request_sign(request: HttpRequest, code: UUID, records_request: UUID) -> HttpResponse:
    return _step(
        request,
        code,
        records_request,
        form_class=SignForm,
        form_name="sign_form",
        service=facility_requests.sign,
        done=lambda _: "Signed. Download the letter and send it to the facility.",
    )


@login_required
@require_POST
def records_request_sent(request: HttpRequest, code: UUID, records_request: UUID) -> HttpResponse:
    return _step(
        request,
        code,
        records_request,
        form_class=SentForm,
        form_name="sent_form",
        service=facility_requests.mark_sent,
        done=lambda found: f"Noted. The facility must act by {found.due_on:%B %-d, %Y}.",
    )


@login_required
@require_POST
def records_request_receipt(
    request: HttpRequest, code: UUID, records_request: UUID
) -> HttpResponse:
    return _step(
        request,
        code,
        records_request,
        form_class=ReceiptForm,
        form_name="receipt_form",
        service=facility_requests.confirm_receipt,
        done=lambda found: f"Noted. The facility must act by {found.due_on:%B %-d, %Y}.",
    )


@login_required
@require_POST
def records_request_extension(
    request: HttpRequest, code: UUID, records_request: UUID
) -> HttpResponse:
    return _step(
        request,
        code,
        records_request,
        form_class=ExtensionForm,
        form_name="extension_form",
        service=facility_requests.note_extension,
        done=lambda found: f"Noted. The new deadline is {found.due_on:%B %-d, %Y}.",
    )


@login_required
@require_POST
def records_request_received(
    request: HttpRequest, code: UUID, records_request: UUID
) -> HttpResponse:
    return _step(
        request,
        code,
        records_request,
        form_class=ReceivedForm,
        form_name="received_form",
        service=facility_requests.mark_received,
        done=lambda _: "Noted. Add the images and reports to your request.",
    )


def _letter_response(
    request: HttpRequest, records_request: RecordsRequest, pdf: bytes, filename: str
) -> HttpResponse:
    return serve_file(
        request,
        pdf,
        case=records_request.case,
        target_type="records_request_letter",
        target_codes=[records_request.code],
        content_type="application/pdf",
        filename=filename,
    )


@login_required
@require_GET
def records_request_letter(request: HttpRequest, code: UUID, records_request: UUID) -> HttpResponse:
    with refusals_audited(
        request, target_type="records_request_letter", target_code=records_request, case_code=code
    ):
        found = _load(request, code, records_request)
    try:
        pdf = facility_requests.request_letter_pdf(found)
    except RecordsRequestError as exc:
        messages.error(request, str(exc))
        return _detail_page(found)
    return _letter_response(request, found, pdf, f"records-request-{found.case.short_code}.pdf")


@login_required
@require_GET
def records_request_escalation(
    request: HttpRequest, code: UUID, records_request: UUID
) -> HttpResponse:
    with refusals_audited(
        request, target_type="records_request_letter", target_code=records_request, case_code=code
    ):
        found = _load(request, code, records_request)
    try:
        pdf = facility_requests.escalation_letter_pdf(found, by=request.user)
    except RecordsRequestError as exc:
        messages.error(request, str(exc))
        return _detail_page(found)
    return _letter_response(
        request, found, pdf, f"second-records-request-{found.case.short_code}.pdf"
    )
