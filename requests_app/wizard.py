"""The intake wizard: a list of small steps over a saved draft case.

Each step knows its form, how to save it and what it still lacks, so the progress bar, the
review page and the case page all ask the same objects.
"""

from dataclasses import dataclass

from django import forms

from insurance import services as insurance_services
from insurance.models import CaseInsurance
from records import services as records_services
from records.models import Document, Upload
from reviewers import services as reviewer_services
from reviewers.routing import Suggestion, suggest_subspecialty

from . import services
from .audit import client_ip
from .forms import (
    AuthorizationForm,
    InsuranceForm,
    MammogramForm,
    PatientForm,
    QuestionForm,
    ScanForm,
    SpecialistForm,
)
from .models import Case


@dataclass(frozen=True)
class Step:
    slug: str
    label: str
    title: str
    form_class: type[forms.BaseForm] | None = None

    @property
    def template(self) -> str:
        return f"requests_app/steps/{self.slug}.html"

    def build_form(self, case: Case, data=None, files=None) -> forms.BaseForm | None:
        if self.form_class is None:
            return None
        return self.form_class(data, instance=case)

    def save(self, form: forms.BaseForm, case: Case, request) -> None:
        services.update_case(case, by=request.user, fields=form.cleaned_data)

    def missing(self, case: Case, *, documents=None, uploads=None) -> list[str]:
        """What this step still needs before the request can be submitted (`documents` and
        `uploads`: the case's, when the caller already loaded them)."""
        if self.form_class is None or not issubclass(self.form_class, forms.ModelForm):
            return []
        # The form's fields as declared, and those it makes required: building the form itself
        # would run what its choices need (the specialist step matches reviewers).
        wanted = set(getattr(self.form_class, "required_fields", ()))
        empty = [
            field.label
            for name, field in self.form_class.base_fields.items()
            if (field.required or name in wanted) and getattr(case, name) in (None, "")
        ]
        return [f"{self.label}: {label.lower()}" for label in empty]


class RecordsStep(Step):
    def build_form(self, case: Case, data=None, files=None) -> forms.BaseForm | None:
        return MammogramForm(data, instance=case) if case.is_mammogram else None

    def missing(self, case: Case, *, documents=None, uploads=None) -> list[str]:
        missing = []
        if uploads is None:
            invalid = case.uploads.filter(status=Upload.Status.INVALID).exists()
        else:
            invalid = any(upload.status == Upload.Status.INVALID for upload in uploads)
        if invalid:
            missing.append(f"{self.label}: fix the problems found in your images")
        if case.is_mammogram:
            missing += [
                f"{self.label}: {label}"
                for name, label in (("birads", "the BI-RADS category"), ("had_biopsy", "biopsy"))
                if not getattr(case, name)
            ]
        return missing


class AuthorizationStep(Step):
    """Optional: the authorization lets us ask the facility for the records on the patient's
    behalf; nothing else depends on it (45 CFR 164.508(b)(4): treatment is not conditioned)."""

    def build_form(self, case: Case, data=None, files=None) -> forms.BaseForm:
        return AuthorizationForm(data, files, case=case)

    def save(self, form: forms.BaseForm, case: Case, request) -> None:
        self.sign(form, case, request)

    @staticmethod
    def sign(form: forms.BaseForm, case: Case, request) -> None:
        """Store the proof of a representative's authority, then the signature."""
        authority = form.cleaned_data["authority"]
        document_code = None
        if authority:
            document = records_services.add_document(
                case,
                by=request.user,
                kind=Document.Kind.AUTHORITY,
                uploaded=form.cleaned_data["authority_document"],
            )
            document_code = document.code
        services.sign_authorization(
            case,
            by=request.user,
            signed_name=form.cleaned_data["signed_name"],
            authority=authority,
            authority_document_code=document_code,
            ip_address=client_ip(request),
        )


class InsuranceStep(Step):
    def build_form(self, case: Case, data=None, files=None) -> forms.BaseForm:
        instance = CaseInsurance.objects.filter(case=case).first() or CaseInsurance(case=case)
        return InsuranceForm(data, instance=instance)

    def save(self, form: forms.BaseForm, case: Case, request) -> None:
        insurance_services.save_case_insurance(case, by=request.user, data=form.cleaned_data)

    def missing(self, case: Case, *, documents=None, uploads=None) -> list[str]:
        if insurance_services.case_insurance(case) is None:
            return ["tell us about your insurance (or choose to pay yourself)"]
        return insurance_services.choices_missing(case)


class SpecialistStep(Step):
    def suggestion(self, case: Case) -> Suggestion:
        return suggest_subspecialty(
            exam_type=case.exam_type, body_region=case.body_region, age=case.patient_age
        )

    def build_form(self, case: Case, data=None, files=None) -> forms.BaseForm:
        initial = {}
        if case.requested_subspecialty_id is None:
            initial["requested_subspecialty"] = self.suggestion(case).slug
        if not case.review_type:
            initial["review_type"] = "radiology"
        if not case.visit_mode:
            initial["visit_mode"] = "remote"
        if not case.opinion_state:
            initial["opinion_state"] = case.patient_state  # usually where they live
        return SpecialistForm(data, instance=case, initial=initial)

    def save(self, form: forms.BaseForm, case: Case, request) -> None:
        fields = dict(form.cleaned_data)
        reviewer, why = fields.pop("reviewer", (None, ""))
        services.update_case(case, by=request.user, fields=fields)
        reviewer_services.choose_reviewer(case, reviewer=reviewer, why=why, by=request.user)


STEPS: list[Step] = [
    Step("patient", "Patient", "Who is the second opinion for?", PatientForm),
    Step("scan", "Scan", "About the scan", ScanForm),
    Step("question", "Question", "What would you like the specialist to answer?", QuestionForm),
    RecordsStep("records", "Records", "Your records"),
    AuthorizationStep("authorization", "Permission", "Permission to share your records"),
    InsuranceStep("insurance", "Insurance", "Your insurance"),
    SpecialistStep("specialist", "Specialist", "Choose your specialist", SpecialistForm),
    Step("review", "Review", "Review and submit"),
]
BY_SLUG = {step.slug: step for step in STEPS}


def next_step(step: Step) -> Step | None:
    index = STEPS.index(step)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None


def previous_step(step: Step) -> Step | None:
    index = STEPS.index(step)
    return STEPS[index - 1] if index else None


def steps_asking_for(fields: list[str]) -> list[Step]:
    """The steps whose forms ask for any of these case fields, in wizard order."""
    wanted = set(fields)
    return [
        step
        for step in STEPS
        if step.form_class is not None
        and issubclass(step.form_class, forms.ModelForm)
        and wanted & set(step.form_class._meta.fields)
    ]


def missing_for_submission(case: Case) -> list[str]:
    """Everything required that the patient has not given yet, in wizard order."""
    return [item for step in STEPS for item in step.missing(case)]


def missing_by_step(case: Case, *, documents=None, uploads=None) -> list[tuple[Step, list[str]]]:
    """Each step with what it still needs, reading the documents and uploads a page already
    loaded when given."""
    return [(step, step.missing(case, documents=documents, uploads=uploads)) for step in STEPS]


def first_incomplete(case: Case) -> Step:
    """Where a patient coming back to a draft should resume."""
    for step in STEPS:
        if step.missing(case):
            return step
    return STEPS[-1]


def recommendations(case: Case, *, documents=None, uploads=None) -> list[str]:
    """Records that are not required to submit but that the specialist will want (reading the
    documents and uploads a page already loaded, when given)."""
    advice = []
    if not (case.uploads.exists() if uploads is None else uploads):
        advice.append(
            "Add the images (DICOM files from the CD or patient portal): the specialist needs "
            "them to start."
        )
    if documents is None:
        kinds = set(case.documents.values_list("kind", flat=True))
    else:
        kinds = {document.kind for document in documents}
    if Document.Kind.ORIGINAL_REPORT not in kinds:
        advice.append("Add the original written report (PDF).")
    if (
        case.is_mammogram
        and case.had_biopsy == "yes"
        and Document.Kind.PATHOLOGY_REPORT not in kinds
    ):
        advice.append("Add the pathology report from your biopsy.")
    return advice
