from django.utils.functional import SimpleLazyObject

from .roles import is_coordinator, is_reviewer


def roles(request) -> dict:
    user = request.user
    return {
        "user_is_reviewer": is_reviewer(user),
        "user_is_coordinator": is_coordinator(user),
    }


def unread_notifications(request) -> dict:
    """The header's unread count: one COUNT query, run only if a page shows it."""
    user = request.user
    if not user.is_authenticated:
        return {}
    unread = user.notifications.filter(read_at__isnull=True)
    return {"unread_notifications": SimpleLazyObject(unread.count)}
