"""Running one service over many selected rows from an admin action."""

from collections.abc import Callable, Iterable

from django.contrib import messages
from django.http import HttpRequest

from .services import CaseError


def _case_code(item) -> str:
    case = getattr(item, "case", item)
    return case.short_code


def run_each(request: HttpRequest, items: Iterable, action: Callable, *, done: str) -> int:
    """Apply a service to each item; one message for the successes, one per refusal."""
    count = 0
    for item in items:
        try:
            action(item)
        except CaseError as exc:
            messages.error(request, f"{_case_code(item)}: {exc}")
        else:
            count += 1
    if count:
        messages.success(request, f"{done}: {count}.")
    return count
