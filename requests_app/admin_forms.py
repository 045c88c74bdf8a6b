"""The details a coordinator gives before a triage action runs on the selected cases."""

from django import forms

from reviewers.matching import reasons_said
from reviewers.models import ReviewerProfile, Subspecialty

from .models import Case, FindingContact, Priority
from .services import CLINICAL_ANSWERS


class RecordsRequestForm(forms.Form):
    title = "Ask the patient for missing records"
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="The patient reads this on their case page and is told by email to look.",
    )


class CareTeamMessageForm(forms.Form):
    title = "Send a message to the patient"
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 5}))


class RerouteForm(forms.Form):
    title = "Move to another subspecialty's queue"
    queue = forms.ModelChoiceField(queryset=Subspecialty.objects.all())
    note = forms.CharField(required=False, max_length=200, help_text="Why (on the timeline).")


class ReviewerRadios(forms.RadioSelect):
    """Reviewers as radio buttons; those who may not take the case are shown but cannot be
    chosen."""

    def __init__(self, *args, unavailable=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unavailable = {str(value) for value in unavailable}

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if str(value) in self.unavailable:
            option["attrs"]["disabled"] = True
        return option


def _option_label(option) -> str:
    name = option.reviewer.name + (" (the patient's choice)" if option.patient_pick else "")
    if option.eligible:
        return f"{name}: {option.facts}"
    return f"{name}: not eligible, {reasons_said('they', option.reasons)}. ({option.facts})"


class EligibleReviewers:
    """For a form with a `reviewer` field: given the options for one case, offer those who may
    take it with their facts (the others shown greyed out with `show_all`), and refuse the others
    with their reasons. Without options, every active reviewer (checked on assigning)."""

    def __init__(self, *args, options=None, show_all=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.show_all = show_all
        self.refusals = {}
        if options is None:
            return
        eligible = [option for option in options if option.eligible]
        shown = options if show_all else eligible
        self.hidden_count = len(options) - len(eligible)
        self.refusals = {o.reviewer.id: o.reasons for o in options if not o.eligible}
        field = self.fields["reviewer"]
        field.widget = ReviewerRadios(unavailable=list(self.refusals))
        field.choices = [(o.reviewer.id, _option_label(o)) for o in shown]
        field.help_text = (
            "Eligible reviewers: subspecialty, licence where the patient will be, MQSA for "
            "mammograms, no conflict of interest, room for another case."
            if eligible
            else "Nobody may take this case now; show the others to see why."
        )

    def clean_reviewer(self):
        reviewer = self.cleaned_data["reviewer"]
        reasons = self.refusals.get(reviewer.pk)
        if reasons:
            raise forms.ValidationError(
                f"{reviewer} cannot take this case: {reasons_said('they', reasons)}."
            )
        return reviewer


class AssignReviewerForm(EligibleReviewers, forms.Form):
    """For one case, the reviewers who may take it with the facts checked; for several cases,
    every active reviewer (the rules are checked for each case on assigning)."""

    title = "Assign or reassign a reviewer"
    reviewer = forms.ModelChoiceField(
        queryset=ReviewerProfile.objects.filter(is_active=True).order_by("display_name"),
        help_text="Licensing, MQSA and conflict-of-interest rules are checked for each case.",
    )


class PriorityForm(forms.Form):
    title = "Set priority"
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int)


class HoldForm(forms.Form):
    title = "Put on hold"
    reason = forms.CharField(
        max_length=250, help_text="What the case waits for: the patient, a payer, a facility..."
    )


class CloseForm(forms.Form):
    title = "Close"
    reason = forms.CharField(max_length=250, help_text="Read by the patient on the timeline.")


class NoteForm(forms.Form):
    title = "Mark the flagged details as checked"
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="What you checked."
    )


class ClinicalAnswersForm(forms.ModelForm):
    """The patient's answers as a coordinator corrects them; the service saves what changed."""

    # Not "reason": the patient's own reason for asking is one of the answers.
    because = forms.CharField(
        label="Why they change",
        max_length=200,
        help_text="The patient reads this on the timeline, with the fields named.",
    )

    class Meta:
        model = Case
        fields = CLINICAL_ANSWERS


class FindingContactForm(forms.Form):
    title = "Record a call about an urgent finding or a suspicious result"
    party = forms.ChoiceField(label="Who", choices=FindingContact.Party.choices)
    outcome = forms.ChoiceField(choices=FindingContact.Outcome.choices)
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was said and agreed (kept for the care team; not on the patient's page).",
    )


class WrittenRevocationForm(forms.Form):
    title = "Record a written revocation"
    received_on = forms.DateField(
        label="Received on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the patient's letter or e-mail reached us: revocation counts from then.",
    )
    note = forms.CharField(
        required=False,
        max_length=300,
        help_text="How it came (letter, e-mail) and where it is filed.",
    )
