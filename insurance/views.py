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
from requests_app.audit import refusals_audited, serve_file
from requests_app.forms import InsuranceForm
from requests_app.services import CaseError
from reviewers import services as reviewer_services
from secondopinion.pdf import render_pdf

from . import assignment, paperwork, self_payment, services, statements
from .client import plan_rules
from .coverage import money, service_codes
from .models import CaseInsurance, NetworkGapException, PlanType


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
    question = form.non_field_errors()
    return render(
        request,
        "insurance/_coverage.html",
        {"coverage": preview, "preview": True, "case": case, "question": question},
    )


class AdvanceBeneficiaryNoticeForm(forms.Form):
    option = forms.ChoiceField(
        label="Your choice",
        widget=forms.RadioSelect,
        choices=[
            ("1", "Option 1: bill Medicare. If Medicare doesn't pay, I pay, and I can appeal."),
            ("2", "Option 2: don't bill Medicare. I pay now, and I cannot appeal."),
        ],
        help_text="Option 3, not having the second opinion, needs nothing from you: just leave.",
    )
    signed_name = forms.CharField(label="Type your full name to sign", max_length=200)
    agree = forms.BooleanField(label="I have read this notice and I understand it.")


@login_required
@require_http_methods(["GET", "POST"])
def self_pay(request: HttpRequest, code: UUID) -> HttpResponse:
    """Show the price first; the choice is made only by the POST of that page. Original
    Medicare: the Advance Beneficiary Notice is read and signed first."""
    case = get_case_for_patient(request.user, code)
    insurance = CaseInsurance.objects.filter(case=case).first()
    medicare = (
        insurance is not None
        and insurance.plan_type == PlanType.MEDICARE
        and not insurance.is_self_pay
    )
    form = AdvanceBeneficiaryNoticeForm(request.POST or None) if medicare else None
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if form is None:
                price = self_payment.choose_self_pay(case, by=request.user)
                done = f"You chose to pay yourself: {money(price)}."
            else:
                paperwork.sign_advance_beneficiary_notice(case, by=request.user, **_abn(form))
                done = (
                    "You signed the notice: we bill Medicare, and you pay only if it does not."
                    if form.cleaned_data["option"] == "1"
                    else f"You chose to pay yourself: {money(self_payment.self_pay_price(case))}."
                )
        except CaseError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return _case_page(case)
    if case.status not in self_payment.PATIENT_SELF_PAY_FROM:
        raise Http404("Too late to choose.")
    price_row = services.price_list()[case.review_type or "radiology"]
    context = {
        "case": case,
        "price": price_row,
        "amount": money(price_row.self_pay),
        "refusal": self_payment.self_pay_refusal(case),
        "abn_form": form,
        "abn": paperwork.advance_beneficiary_notice_text(
            case, option="", signed_name="", on=timezone.localdate()
        )
        if medicare
        else "",
    }
    status = 400 if form is not None and form.is_bound else 200
    return render(request, "insurance/self_pay.html", context, status=status)


def _abn(form: AdvanceBeneficiaryNoticeForm) -> dict:
    return {"option": form.cleaned_data["option"], "signed_name": form.cleaned_data["signed_name"]}


@login_required
@require_http_methods(["GET", "POST"])
def referral(request: HttpRequest, code: UUID) -> HttpResponse:
    case = get_case_for_patient(request.user, code)
    form = ReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            paperwork.submit_referral_details(case, by=request.user, **form.cleaned_data)
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
        paperwork.request_network_gap_exception(case, by=request.user)
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
    return _pdf(
        request,
        paperwork.network_gap_letter_pdf(exception),
        case=case,
        target_type="network_gap_letter",
        target_code=exception.code,
        filename=f"network-gap-exception-{case.short_code}.pdf",
    )


def _pdf(request, pdf: bytes, *, case, target_type: str, target_code, filename: str):
    return serve_file(
        request,
        pdf,
        case=case,
        target_type=target_type,
        target_codes=[target_code],
        content_type="application/pdf",
        filename=filename,
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
    price = services.price_list()[case.review_type or "radiology"]
    billed = plan_rules(insurance.plan) if insurance.plan and not insurance.is_self_pay else None
    pdf = render_pdf(
        "insurance/pdf/cost_summary.html",
        {
            "codes": "; ".join(service_codes(price.cpt_codes, billed)),
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
    return _pdf(
        request,
        pdf,
        case=case,
        target_type="cost_summary",
        target_code=check.pk,
        filename=f"cost-estimate-{case.short_code}.pdf",
    )


@login_required
@require_GET
def good_faith_estimate(request: HttpRequest, code: UUID) -> HttpResponse:
    """The Good Faith Estimate for a patient who pays (issued now if asked for first)."""
    with refusals_audited(
        request, target_type="good_faith_estimate", target_code=code, case_code=code
    ):
        case = get_case_for_patient(request.user, code)
    try:
        estimate = statements.issue_good_faith_estimate(case, by=request.user)
    except CaseError as exc:
        messages.info(request, str(exc))
        return _case_page(case)
    pdf = render_pdf(
        "insurance/pdf/good_faith_estimate.html", statements.estimate_context(estimate)
    )
    return _pdf(
        request,
        pdf,
        case=case,
        target_type="good_faith_estimate",
        target_code=estimate.code,
        filename=f"good-faith-estimate-{case.short_code}.pdf",
    )


@login_required
@require_GET
def itemized_statement(request: HttpRequest, code: UUID) -> HttpResponse:
    """After the service: the itemized statement (for an HSA or FSA, or the patient's records)."""
    with refusals_audited(
        request, target_type="itemized_statement", target_code=code, case_code=code
    ):
        case = get_case_for_patient(request.user, code)
    try:
        context = statements.itemized_statement(case)
    except CaseError as exc:
        messages.info(request, str(exc))
        return _case_page(case)
    return _pdf(
        request,
        render_pdf("insurance/pdf/itemized_statement.html", context),
        case=case,
        target_type="itemized_statement",
        target_code=case.code,
        filename=f"itemized-statement-{case.short_code}.pdf",
    )


@login_required
@require_http_methods(["GET", "POST"])
def third_opinion(request: HttpRequest, code: UUID) -> HttpResponse:
    """What a third opinion costs, shown before the patient asks for one; the POST asks."""
    case = get_case_for_patient(request.user, code)
    if request.method == "POST":
        try:
            assignment.request_third_opinion(
                case, by=request.user, estimate_seen=request.POST.get("estimate_seen", "")
            )
        except CaseError as exc:
            messages.error(request, str(exc))
            return redirect("insurance:third-opinion", case.code)
        messages.success(
            request, "Third opinion requested. We will tell you when another specialist has it."
        )
        return _case_page(case)
    result = assignment.third_opinion_cost(case)
    context = {
        "case": case,
        "coverage": result,
        "amount": assignment.amount(result) if result else "",
        "can_request": reviewer_services.can_request_third_opinion(case) and result is not None,
    }
    return render(request, "insurance/third_opinion.html", context)
