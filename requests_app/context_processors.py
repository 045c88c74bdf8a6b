from .roles import is_coordinator, is_reviewer


def roles(request) -> dict:
    user = request.user
    return {
        "user_is_reviewer": is_reviewer(user),
        "user_is_coordinator": is_coordinator(user),
    }
