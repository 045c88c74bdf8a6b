"""The admin's add and change forms as a browser would post them back, with chosen changes."""

from django import forms
from django.test import Client


def _field_data(bound: forms.BoundField) -> dict:
    value = bound.value()
    widget = bound.field.widget
    name = bound.html_name
    if isinstance(widget, forms.MultiWidget):
        parts = value if isinstance(value, list | tuple) else widget.decompress(value)
        return {f"{name}_{i}": "" if part is None else str(part) for i, part in enumerate(parts)}
    if isinstance(bound.field, forms.BooleanField):
        return {name: "on"} if value else {}
    if value is None:
        return {name: ""}
    if isinstance(value, list | tuple):
        return {name: [str(v) for v in value]}
    return {name: str(value)}


def form_data(form: forms.BaseForm) -> dict:
    data = {}
    for bound in form:
        data.update(_field_data(bound))
    return data


def page_form_data(client: Client, url: str, **changes) -> dict:
    """What the admin page at `url` would post unchanged (inlines included), then `changes`."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    context = response.context
    data = form_data(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(form_data(formset.management_form))
        for form in formset.forms:
            data.update(form_data(form))
    return {**data, **changes}
