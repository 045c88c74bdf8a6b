from django import forms

from .models import Document

EMPTY_FILE = (
    "This file is empty (0 bytes). Choose it again; if it came from a patient portal, "
    "download it again first."
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput
    default_error_messages = {"empty": EMPTY_FILE}

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(label="What is it?", choices=Document.Kind.choices)
    file = forms.FileField(
        label="PDF file",
        error_messages={
            "required": "Choose the PDF file to add.",
            "empty": EMPTY_FILE,
        },
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )


class ImagesForm(forms.Form):
    files = MultipleFileField(label="Image files", required=False)
    folder = MultipleFileField(
        label="Or a whole folder (for example the CD)",
        required=False,
        widget=MultipleFileInput(attrs={"webkitdirectory": True, "directory": True}),
    )
    # Filled by the page's script with each folder file's path inside the chosen folder
    # (browsers send only the bare file name), as a JSON list in the order of the files.
    relative_paths = forms.JSONField(widget=forms.HiddenInput, required=False)

    def clean_relative_paths(self) -> list[str]:
        paths = self.cleaned_data.get("relative_paths") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return []
        return paths


class RemoveFilesForm(forms.Form):
    title = "Remove the selected files from their case"
    reason = forms.CharField(
        max_length=200,
        help_text="Why (on the case's timeline, which the patient reads).",
    )
