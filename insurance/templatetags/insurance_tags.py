"""Filters for the insurance templates; what they show is computed by views
(`insurance.status`)."""

from decimal import Decimal

from django import template

from ..coverage import money

register = template.Library()


@register.filter
def dollars(value) -> str:
    """An amount as stored in a coverage result ("350.00") shown as "$350.00"."""
    return money(Decimal(str(value)))
