from django import forms
from django.utils.html import format_html

from requests_app.models import Case

from . import meaning
from .matching import Matches
from .models import READ_BIRADS, Opinion, Radpeer, ReviewerProfile, TieBreak

FIRST_AVAILABLE = "first"


def _label(name: str, why: tuple[str, ...]) -> str:
    """A radio label with the reasons under the name (escaped by format_html)."""
    return format_html('<strong>{}</strong><br><small class="why">{}</small>', name, " ".join(why))


def reviewer_choice_field(matches: Matches, *, initial: ReviewerProfile | None) -> forms.Field:
    """The patient's pick in the specialist step: first available, or a named specialist."""
    first = matches.first_available
    soonest = (
        f"The next qualified specialist free to take it, usually within "
        f"{first.reviewer.turnaround_days} days."
        if first
        else "A care coordinator finds a qualified specialist for you."
    )
    choices = [(FIRST_AVAILABLE, _label("First available specialist", (soonest,)))]
    choices += [(str(c.reviewer.id), _label(c.reviewer.name, c.why)) for c in matches.candidates]
    field = forms.ChoiceField(
        label="Who should read your images?",
        choices=choices,
        widget=forms.RadioSelect,
        required=False,
        initial=str(initial.pk) if initial else FIRST_AVAILABLE,
        help_text=(
            "Every specialist listed holds a current licence for the state you will be in when "
            "you receive the opinion, and none of the places they told us they work is the "
            "place that did your scan."
        ),
    )
    field.matches = matches
    return field


def chosen_reviewer(field: forms.Field, value: str) -> tuple[ReviewerProfile | None, str]:
    """The profile picked (None for first available) and why they fit, as shown."""
    if not value or value == FIRST_AVAILABLE:
        return None, ""
    for candidate in field.matches.candidates:
        if str(candidate.reviewer.id) == value:
            profile = ReviewerProfile.objects.get(pk=candidate.reviewer.id)
            return profile, " ".join(candidate.why)
    raise forms.ValidationError("That specialist is not available for this request any more.")


class BlindReadForm(forms.ModelForm):
    class Meta:
        model = Opinion
        fields = ["findings", "impression", "birads", "breast_density"]
        widgets = {
            "findings": forms.Textarea(attrs={"rows": 8}),
            "impression": forms.Textarea(attrs={"rows": 4}),
            "breast_density": forms.RadioSelect,
        }
        labels = {"birads": "Your BI-RADS category", "breast_density": "Breast density"}
        help_texts = {
            "breast_density": "Required in every mammography report (21 CFR 900.12(c)(1)(vi)).",
        }

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["findings"].required = True
        self.fields["impression"].required = True
        if case.is_mammogram:
            self.fields["birads"].required = True
            self.fields["birads"].choices = [("", "Choose one"), *READ_BIRADS]
        else:
            del self.fields["birads"]
        if case.is_mammography:
            self.fields["breast_density"].required = True
            self.fields["breast_density"].choices = meaning.DENSITY_CHOICES
        else:
            del self.fields["breast_density"]


class ConsultationForm(forms.ModelForm):
    """A clinical specialist's consultation: assessment and advice, no image grades."""

    class Meta:
        model = Opinion
        fields = ["findings", "recommendations", "patient_summary"]
        widgets = {
            "findings": forms.Textarea(attrs={"rows": 8}),
            "recommendations": forms.Textarea(attrs={"rows": 4}),
            "patient_summary": forms.Textarea(attrs={"rows": 4}),
        }
        labels = {
            "findings": "Your assessment",
            "recommendations": "Your recommendations",
            "patient_summary": "Summary for the patient",
        }
        help_texts = {"patient_summary": "Plain words the patient will read first: no jargon."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = True


class GradeForm(forms.ModelForm):
    class Meta:
        model = Opinion
        fields = [
            "radpeer",
            "original_birads",
            "recommendation_change",
            "concordance_comment",
            "tie_break",
            "recommendations",
            "patient_summary",
        ]
        widgets = {
            "radpeer": forms.RadioSelect,
            "recommendation_change": forms.RadioSelect,
            "tie_break": forms.RadioSelect,
            "concordance_comment": forms.Textarea(attrs={"rows": 3}),
            "recommendations": forms.Textarea(attrs={"rows": 3}),
            "patient_summary": forms.Textarea(attrs={"rows": 4}),
        }
        labels = {"concordance_comment": "Comment on the discrepancy"}
        help_texts = {
            "radpeer": "For peer learning: the patient never sees the grade.",
            "concordance_comment": (
                "Required whenever anything differs: the patient reads this comment, in plain "
                "words, instead of a grade."
            ),
            "patient_summary": "Plain words the patient will read first: no jargon.",
        }

    def __init__(self, *args, case: Case, third_opinion: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        self.fields["radpeer"].required = True
        self.fields["radpeer"].choices = Radpeer.choices
        self.fields["recommendation_change"].required = True
        self.fields["recommendation_change"].choices = meaning.Recommendation.choices
        self.fields["patient_summary"].required = True
        if case.is_mammogram:
            self.fields["original_birads"].choices = [("", "Not stated"), *READ_BIRADS]
            if case.birads and case.birads != "unknown":
                self.fields["original_birads"].help_text = (
                    f"Prefilled with the patient's answer ({case.get_birads_display()}): "
                    "check it against the original report and change it if it differs."
                )
        else:
            del self.fields["original_birads"]
        if third_opinion:
            self.fields["tie_break"].required = True
            self.fields["tie_break"].choices = TieBreak.choices
        else:
            del self.fields["tie_break"]

    def clean(self):
        cleaned = super().clean()
        original = cleaned.get("original_birads") or self.case.birads.replace("unknown", "")
        if not cleaned.get("concordance_comment", "").strip() and meaning.anything_differs(
            radpeer=cleaned.get("radpeer", ""),
            birads_before=original,
            birads_after=self.instance.birads,
            recommendation=cleaned.get("recommendation_change", ""),
        ):
            self.add_error(
                "concordance_comment",
                "Explain the discrepancy: the patient reads this comment instead of a grade.",
            )
        return cleaned


class SignForm(forms.Form):
    signed_name = forms.CharField(label="Type your name to sign", max_length=200)
    attest = forms.BooleanField(
        label=(
            "I personally reviewed the images and this report is my independent professional "
            "opinion."
        )
    )
    pdf = forms.FileField(
        label="Your own signed PDF (optional)",
        required=False,
        help_text="Leave empty to generate the report PDF from what you wrote above.",
    )
    urgent_finding = forms.BooleanField(
        label="Urgent or significant unexpected finding: the care team must call the patient "
        "and their doctor",
        required=False,
        help_text=(
            "As the ACR Practice Parameter for Communication of Diagnostic Imaging Findings "
            "describes: a finding that needs urgent or non-routine attention."
        ),
    )
    urgent_finding_note = forms.CharField(
        label="What the care team should tell them",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("urgent_finding") and not cleaned.get("urgent_finding_note", "").strip():
            self.add_error("urgent_finding_note", "Say what the finding is and what is needed.")
        return cleaned


class QuestionForm(forms.Form):
    question = forms.CharField(
        label="Your question for the specialist",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label="Your answer", max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class AssignForm(forms.ModelForm):
    """The admin's assignment form: a case and the reviewer to give it to."""

    reviewer = forms.ModelChoiceField(
        queryset=ReviewerProfile.objects.filter(is_active=True),
        help_text="Licensing, MQSA, conflict-of-interest and independence rules are checked.",
    )

    class Meta:
        model = Case
        fields: list[str] = []
