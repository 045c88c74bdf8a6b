from datetime import date

from django import forms
from django.utils import timezone

from insurance.models import CaseInsurance, Plan, PlanType
from reviewers.forms import chosen_reviewer, reviewer_choice_field
from reviewers.matching import match_case
from reviewers.models import ReviewerChoice, Subspecialty

from .models import Authorization, Case, ReviewType


class DateInput(forms.DateInput):
    input_type = "date"


def _required(form: forms.ModelForm, *names: str) -> None:
    """Make fields required; a required radio list has no blank choice, a list says 'Choose'."""
    for name in names:
        field = form.fields[name]
        field.required = True
        if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
            choices = [choice for choice in field.choices if choice[0] != ""]
            if not isinstance(field.widget, forms.RadioSelect):
                choices.insert(0, ("", "Choose one"))
            field.choices = choices


def _not_in_future(value: date | None, what: str) -> date | None:
    if value and value > timezone.localdate():
        raise forms.ValidationError(f"The {what} can't be in the future.")
    return value


class PatientForm(forms.ModelForm):
    # Required here, though optional on the model: what a submitted request must have.
    required_fields = (
        "patient_name",
        "patient_birth_date",
        "patient_state",
    )

    class Meta:
        model = Case
        fields = [
            "patient_name",
            "patient_birth_date",
            "patient_state",
            "physician_name",
            "physician_practice",
            "physician_phone",
            "physician_email",
        ]
        widgets = {"patient_birth_date": DateInput()}
        help_texts = {
            "patient_name": "As it appears on the scan and your insurance card.",
            "physician_name": (
                "The doctor who looks after you for this: who ordered the scan, or your family "
                "doctor. Optional, but if the specialist finds something that needs attention "
                "quickly, we call you and this doctor."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _required(self, *self.required_fields)
        self.fields["patient_name"].widget.attrs["autocomplete"] = "name"
        self.fields["physician_phone"].widget.attrs.update(type="tel", autocomplete="off")
        self.fields["patient_birth_date"].widget.attrs["autocomplete"] = "bday"

    def clean_patient_birth_date(self):
        born = _not_in_future(self.cleaned_data["patient_birth_date"], "date of birth")
        if born and born.year < 1900:
            raise forms.ValidationError("Please check the year of birth.")
        return born


class ScanForm(forms.ModelForm):
    required_fields = (
        "exam_type",
        "body_region",
        "exam_date",
        "facility_name",
    )

    class Meta:
        model = Case
        fields = ["exam_type", "body_region", "exam_date", "facility_name", "facility_location"]
        widgets = {"exam_type": forms.RadioSelect, "exam_date": DateInput()}
        help_texts = {
            "exam_date": "An approximate date is fine.",
            "facility_location": "For example: Springfield, IL.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _required(self, *self.required_fields)

    def clean_exam_date(self):
        return _not_in_future(self.cleaned_data["exam_date"], "date of the scan")


class QuestionForm(forms.ModelForm):
    required_fields = (
        "reason",
        "clinical_question",
    )

    class Meta:
        model = Case
        fields = ["reason", "clinical_question", "reason_details", "scheduled_treatment_on"]
        widgets = {
            "reason": forms.RadioSelect,
            "clinical_question": forms.Textarea(attrs={"rows": 4}),
            "reason_details": forms.Textarea(attrs={"rows": 3}),
            "scheduled_treatment_on": DateInput(),
        }
        help_texts = {
            "clinical_question": (
                "What do you want the specialist to answer? For example: "
                "“Is this really a tumour, and does it need surgery?”"
            ),
            "reason_details": "Symptoms, treatments so far, a deadline for a decision. Optional.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _required(self, *self.required_fields)


class MammogramForm(forms.ModelForm):
    required_fields = (
        "birads",
        "had_biopsy",
    )

    class Meta:
        model = Case
        fields = ["birads", "had_biopsy", "palpable_lump"]
        widgets = {"had_biopsy": forms.RadioSelect, "palpable_lump": forms.RadioSelect}
        help_texts = {
            "birads": "A number from 0 to 6 near the end of the mammogram report.",
            "palpable_lump": "Optional. A lump you can feel needs a doctor's check whatever the "
            "images show, so the specialist's advice takes it into account.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _required(self, *self.required_fields)
        lump = self.fields["palpable_lump"]
        lump.choices = [choice for choice in lump.choices if choice[0] != ""]


class AuthorizationForm(forms.Form):
    signed_name = forms.CharField(
        label="Type your full name to sign", max_length=200, widget=forms.TextInput()
    )
    authority = forms.ChoiceField(
        label="Who is signing?",
        choices=[("", "I am the patient"), *Authorization.Authority.choices],
        required=False,
        help_text="Someone who signs for the patient states their authority and adds proof of it.",
    )
    authority_document = forms.FileField(
        label="Proof of your authority (PDF)",
        required=False,
        help_text=(
            "For example a birth certificate or custody order, guardianship papers, the health "
            "care power of attorney, or letters testamentary."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )
    agree = forms.BooleanField(
        label="I have read this authorization and I agree to it.", required=True
    )

    def __init__(self, *args, case: Case, **kwargs):
        self.case = case
        super().__init__(*args, **kwargs)
        self.fields["signed_name"].widget.attrs["autocomplete"] = "name"
        age = case.patient_age_today
        if age is not None and age >= 18:
            # A parent is a personal representative only of a minor (45 CFR 164.502(g)(3)).
            field = self.fields["authority"]
            field.choices = [c for c in field.choices if c[0] != Authorization.Authority.PARENT]

    def clean(self):
        cleaned = super().clean()
        name = " ".join(cleaned.get("signed_name", "").split())
        authority = cleaned.get("authority")
        if (
            name
            and not authority
            and self.case.patient_name
            and name.casefold() != " ".join(self.case.patient_name.split()).casefold()
        ):
            self.add_error(
                "signed_name",
                f"Type the patient's full name exactly as entered earlier "
                f"(“{self.case.patient_name}”), or say who is signing for them.",
            )
        if authority and not cleaned.get("authority_document"):
            self.add_error(
                "authority_document", "Add a document that shows your authority to sign."
            )
        cleaned["signed_name"] = name
        return cleaned


class InsuranceForm(forms.ModelForm):
    required_fields = ("plan_type",)

    class Meta:
        model = CaseInsurance
        fields = ["plan_type", "plan", "insurer_name", "member_id", "group_number", "has_referral"]
        widgets = {"plan_type": forms.RadioSelect, "has_referral": forms.RadioSelect}
        help_texts = {
            "plan": "As printed on your insurance card. Not listed? We check your plan for you.",
            "insurer_name": "Only if your plan is not listed above.",
            "member_id": "On the front of your insurance card.",
            "group_number": "If your card shows one.",
            "has_referral": "Some plans only pay when your primary care doctor refers you.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _required(self, *self.required_fields)
        referral = self.fields["has_referral"]
        referral.choices = [choice for choice in referral.choices if choice[0] != ""]
        plan = self.fields["plan"]
        plan.label = "Your plan"
        plan.queryset = Plan.objects.filter(is_active=True).select_related("payer")
        plan.empty_label = "My plan is not listed"

    def clean(self):
        cleaned = super().clean()
        plan_type, plan = cleaned.get("plan_type"), cleaned.get("plan")
        if plan_type == PlanType.NONE:
            cleaned["plan"] = None
        elif plan_type and plan is not None and plan_type != plan.plan_type:
            if {plan_type, plan.plan_type} == {PlanType.MEDICARE, PlanType.MEDICARE_ADVANTAGE}:
                # Medicare Advantage plans are easily taken for Medicare: the plan's type wins.
                cleaned["plan_type"] = plan.plan_type
            else:
                self.add_error(
                    None,
                    f"Which is right? You chose “{PlanType(plan_type).label}” as your type of "
                    f"coverage, but {plan} is “{PlanType(plan.plan_type).label}”. Choose the "
                    "type that matches your card, or the plan that does.",
                )
        if plan_type and plan_type != PlanType.NONE and plan is not None:
            cleaned["insurer_name"] = cleaned.get("insurer_name") or plan.payer.name
        if plan_type and plan_type != PlanType.NONE:
            for name in ("insurer_name", "member_id", "has_referral"):
                if not cleaned.get(name):
                    self.add_error(name, "Needed to check your coverage.")
        return cleaned


class SpecialistForm(forms.ModelForm):
    required_fields = (
        "requested_subspecialty",
        "review_type",
        "visit_mode",
        "opinion_state",
    )

    class Meta:
        model = Case
        fields = [
            "requested_subspecialty",
            "review_type",
            "clinical_specialty",
            "visit_mode",
            "opinion_state",
        ]
        widgets = {
            "requested_subspecialty": forms.RadioSelect,
            "review_type": forms.RadioSelect,
            "visit_mode": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _required(self, *self.required_fields)
        field = self.fields["requested_subspecialty"]
        field.queryset = Subspecialty.objects.all()
        field.empty_label = None
        field.label_from_instance = lambda s: f"{s.specialist_title}: {s.covers}"
        specialty = self.fields["clinical_specialty"]
        specialty.help_text = "Only for a consultation."
        specialty.choices = [("", "Choose one"), *specialty.choices[1:]]

        # The named specialist (or first available): matched for the subspecialty on show, or
        # the one just chosen on a post, so the list always fits the patient's answers.
        subspecialty = self.data.get(self.add_prefix("requested_subspecialty")) or (
            self.initial.get("requested_subspecialty") or self.instance.requested_subspecialty_id
        )
        choice = (
            ReviewerChoice.objects.filter(case=self.instance).first() if self.instance.pk else None
        )
        # Licensure follows where the patient will be: the state on show, or the one just posted.
        state = self.data.get(self.add_prefix("opinion_state")) or (
            self.initial.get("opinion_state") or self.instance.opinion_state
        )
        self.fields["reviewer"] = reviewer_choice_field(
            match_case(
                self.instance,
                subspecialty=str(subspecialty or "") or None,
                opinion_state=str(state or ""),
            ),
            initial=choice.reviewer if choice else None,
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("review_type") in (ReviewType.CLINICAL, ReviewType.BOTH) and not cleaned.get(
            "clinical_specialty"
        ):
            self.add_error("clinical_specialty", "Choose the kind of clinical specialist.")
        if cleaned.get("review_type") == ReviewType.RADIOLOGY:
            cleaned["clinical_specialty"] = ""
        try:
            cleaned["reviewer"] = chosen_reviewer(self.fields["reviewer"], cleaned.get("reviewer"))
        except forms.ValidationError as exc:
            self.add_error("reviewer", exc)
        return cleaned


class SubmitForm(forms.Form):
    confirm = forms.BooleanField(
        label=(
            "The information I gave is correct to the best of my knowledge, and I ask "
            "SecondOpinion to arrange an independent review."
        ),
        required=True,
    )
