"""The patient's insurance pages: a coverage preview while they fill in the insurance step, the
self-pay choice, the referral details, the network gap exception, and the two PDFs.

Every view loads the case through the patient's scope (404 for anyone else) and calls one
service; reads of the PDFs are audited like any other record.
"""

from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from requests_app.access import get_case_for_patient
from requests_app.audit import record_access, refusals_audited
from requests_app.forms import InsuranceForm
from requests_app.models import AuditEvent
from requests_app.services import CaseError
from secondopinion.pdf import pdf_response, render_pdf

from . import services
from .coverage import money
from .models import CaseInsurance, NetworkGapException


class ReferralForm(forms.Form):
    physician_name = forms.CharField(label="Your doctor's name", max_length=200)
    physician_phone = forms.CharField(label="Their office phone", max_length=40)
    physician_npi = forms.RegexField(
        label="Their NPI number",
        regex=r"^\d{10}$",
        required=False,
        help_text="Optional: 10 digits, on the referral or from the doctor's office.",
        error_messages={"invalid": "An NPI number has exactly 10 digits."},
    )


def _case_page(case) -> HttpResponse:
    return redirect("requests:case-detail", case.code)


@login_required
@require_POST
def coverage_preview(request: HttpRequest, code: UUID) -> HttpResponse:
    """What the answers typed so far would mean, before they are saved (htmx, on change)."""
    case = get_case_for_patient(request.user, code)
    form = InsuranceForm(request.POST, instance=CaseInsurance(case=case))
    form.is_valid()
    data = form.cleaned_data
    preview = None
    if data.get("plan_type"):
        insurance = CaseInsurance(
            case=case,
            plan_type=data["plan_type"],
            plan=data.get("plan"),
            insurer_name=data.get("insurer_name", ""),
            member_id=data.get("member_id", ""),
            has_referral=data.get("has_referral", ""),
        )
        preview = services.evaluate(case, insurance).result.as_dict()
    return render(
        request, "insurance/_coverage.html", {"coverage": preview, "preview": True, "case": case}
    )


@login_required
@require_http_methods(["GET", "POST"])
def self_pay(request: HttpRequest, code: UUID) -> HttpResponse:
    """Show the price first; the choice is made only by the POST of that page."""
    case = get_case_for_patient(request.user, code)
    if request.method == "POST":
        try:
            price = services.choose_self_pay(case, by=request.user)
        except CaseError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"You chose to pay yourself: {money(price)}.")
        return _case_page(case)
    if case.status not in services.PATIENT_SELF_PAY_FROM:
        raise Http404("Too late to choose.")
    price_row = services.price_list()[case.review_type or "radiology"]
    return render(
        request,
        "insurance/self_pay.html",
        {"case": case, "price": price_row, "amount": money(price_row.self_pay)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def referral(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    form = ReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.submit_referral_details(case, by=request.user, **form.cleaned_data)
        except CaseError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, "Thank you: a coordinator checks the referral with your doctor."
            )
        return _case_page(case)
    return render(request, "insurance/referral.html", {"case": case, "form": form})


@login_required
@require_POST
def network_gap_request(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    try:
        services.request_network_gap_exception(case, by=request.user)
    except CaseError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "We prepared the letter to your insurer; a coordinator sends it for you."
        )
    if case.is_editable_by_patient:
        return redirect("requests:case-step", case.code, "review")
    return _case_page(case)


@login_required
@require_GET
def network_gap_letter(request: HttpRequest, code: UUID, letter: UUID) -> HttpResponse:
    with refusals_audited(
        request, target_type="network_gap_letter", target_code=letter, case_code=code
    ):
        case = get_case_for_patient(request.user, code)
    exception = get_object_or_404(NetworkGapException, case=case, code=letter)
    record_access(
        request,
        action=AuditEvent.Action.DOWNLOAD,
        target_type="network_gap_letter",
        target_code=exception.code,
        case_code=case.code,
    )
    return pdf_response(
        services.network_gap_letter_pdf(exception),
        f"network-gap-exception-{case.short_code}.pdf",
    )


@login_required
@require_GET
def cost_summary(request: HttpRequest, code: UUID) -> HttpResponse:
    with refusals_audited(request, target_type="cost_summary", target_code=code, case_code=code):
        case = get_case_for_patient(request.user, code)
    insurance = CaseInsurance.objects.select_related("plan__payer").filter(case=case).first()
    check = services.current_coverage(case)
    if insurance is None or check is None:
        raise Http404("No insurance details yet.")
    record_access(
        request,
        action=AuditEvent.Action.DOWNLOAD,
        target_type="cost_summary",
        target_code=check.pk,
        case_code=case.code,
    )
    price = services.price_list()[case.review_type or "radiology"]
    pdf = render_pdf(
        "insurance/pdf/cost_summary.html",
        {
            "case": case,
            "insurance": insurance,
            "check": check,
            "result": check.result,
            "low": money(check.estimate_low),
            "high": money(check.estimate_high),
            "price": price,
            "subspecialty": services.case_subspecialty(case),
            "issued": timezone.localdate(),
        },
    )
    return pdf_response(pdf, f"cost-summary-{case.short_code}.pdf")
