from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from requests_app.roles import COORDINATORS, ensure_role_groups
from reviewers.models import ReviewerProfile, Subspecialty

DEMO_PASSWORD = "second-opinion-demo"  # noqa: S105 (demo accounts, printed for the user)

REVIEWERS = [
    ("neuroradiology", "neuro@example.com", "Dr. Maya Lindqvist", "Lakeside University Hospital"),
    ("musculoskeletal", "msk@example.com", "Dr. Tomás Okafor", "Riverbend Orthopedic Institute"),
    ("breast", "breast@example.com", "Dr. Priya Raman", "Harbor Breast Imaging Center"),
    ("cardiothoracic", "chest@example.com", "Dr. Jonas Weber", "Northfield Heart and Lung"),
    ("abdominal", "abdomen@example.com", "Dr. Elena Costa", "Summit Abdominal Imaging"),
    ("nuclear_medicine", "nuclear@example.com", "Dr. Samuel Adeyemi", "Westgate PET Center"),
    ("pediatric", "pediatric@example.com", "Dr. Hana Sato", "Children's Hospital of Fairview"),
    ("general", "general@example.com", "Dr. Louis Martin", "Central Radiology Group"),
]


class Command(BaseCommand):
    help = "Create demo accounts: patient, coordinator, a reviewer per subspecialty. Re-runnable."

    def handle(self, *args, **options) -> None:
        ensure_role_groups()
        with transaction.atomic():
            logins = [
                ("patient", self._user("patient@example.com", "Jane", "Doe")),
                ("coordinator", self._coordinator()),
                ("admin", self._user("admin@example.com", "Ada", "Admin", superuser=True)),
            ]
            for slug, email, name, institution in REVIEWERS:
                user = self._user(email, *name.removeprefix("Dr. ").split(" ", 1))
                profile, _ = ReviewerProfile.objects.update_or_create(
                    user=user, defaults={"display_name": name, "institution": institution}
                )
                profile.subspecialties.set([Subspecialty.objects.get(slug=slug)])
                logins.append((f"reviewer ({slug})", user))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, user in logins:
            self.stdout.write(f"  {role:<30} {user.email}")

    def _user(self, email: str, first: str, last: str, *, superuser: bool = False):
        user, created = get_user_model().objects.get_or_create(
            username=email,
            defaults={
                "email": email,
                "first_name": first,
                "last_name": last,
                "is_staff": superuser,
                "is_superuser": superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        return user

    def _coordinator(self):
        user = self._user("coordinator@example.com", "Carmen", "Coordinator")
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(Group.objects.get(name=COORDINATORS))
        return user
