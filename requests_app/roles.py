"""The three kinds of user: patients (anyone who signs up), reviewers and coordinators."""

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

COORDINATORS = "Coordinators"

# Coordinators triage in the admin: they read everything about a case and change what the
# admin actions let them change. Nobody gets delete on the audit log.
COORDINATOR_PERMISSIONS = {
    "requests_app": [
        "view_case",
        "change_case",
        "view_caseevent",
        "view_authorization",
        "change_authorization",
        "view_message",
        "view_slatarget",
        "add_slatarget",
        "change_slatarget",
        "view_auditevent",
        "view_findingcontact",
    ],
    "records": [
        "view_document",
        "view_upload",
        "view_uploadfile",
        # Only through the audited "remove files" action; the admin offers no other delete.
        "delete_uploadfile",
        "view_uploadproblem",
        "view_study",
        "view_series",
        "view_recordsrequest",
    ],
    "insurance": [
        "view_caseinsurance",
        "change_caseinsurance",
        "view_payer",
        "add_payer",
        "change_payer",
        "view_plan",
        "add_plan",
        "change_plan",
        "view_serviceprice",
        "change_serviceprice",
        "view_coveragecheck",
        "view_goodfaithestimate",
        "view_priorauthorization",
        "change_priorauthorization",
        "view_casereferral",
        "change_casereferral",
        "view_networkgapexception",
        "change_networkgapexception",
    ],
    "reviewers": [
        "view_subspecialty",
        "view_reviewerprofile",
        "change_reviewerprofile",
        # Coordinators verify licences and keep their numbers and dates current.
        "view_reviewerlicense",
        "add_reviewerlicense",
        "change_reviewerlicense",
        "delete_reviewerlicense",
        "view_opinion",
    ],
}


def is_reviewer(user) -> bool:
    profile = getattr(user, "reviewer_profile", None) if user.is_authenticated else None
    return profile is not None and profile.is_active


class _LoadsTheRole:
    """Loads the signed-in user with their reviewer profile, which every request reads
    (`is_reviewer`: the second factor, the header's links): one query, not two."""

    def get_user(self, user_id):
        users = get_user_model()._default_manager.select_related("reviewer_profile")
        user = users.filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


class RoleModelBackend(_LoadsTheRole, ModelBackend):
    pass


class RoleAccountBackend(_LoadsTheRole, AuthenticationBackend):
    pass


def is_coordinator(user) -> bool:
    return user.is_authenticated and user.is_staff


def coordinators():
    """The active people who triage cases: coordinators' group members, and superusers."""
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(Q(groups__name=COORDINATORS) | Q(is_superuser=True))
        .distinct()
    )


def ensure_role_groups(**kwargs) -> None:
    """Create the coordinators' group with its permissions (run after every migrate)."""
    group, _ = Group.objects.get_or_create(name=COORDINATORS)
    wanted = Permission.objects.none()
    for app_label, codenames in COORDINATOR_PERMISSIONS.items():
        wanted |= Permission.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
    group.permissions.add(*wanted)
