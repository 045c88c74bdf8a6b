from datetime import date, timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from insurance.seeding import seed_insurance
from requests_app.roles import COORDINATORS, ensure_role_groups
from reviewers.models import ReviewerLicense, ReviewerProfile, Subspecialty
from secondopinion.second_factor import second_factor_required

DEMO_PASSWORD = "second-opinion-demo"  # noqa: S105 (demo accounts, printed for the user)

# A few specialists per subspecialty, so matching has someone to rule out and someone to rank.
# (subspecialty, e-mail, name, institution, extra profile fields, licensed states)
# Credential dates are written as days from the day the command runs (`_dated`), so the demo never
# goes stale: MQSA dates as "days ago"/"days ahead" keys, licences by `LICENCE_EXPIRY`.
ALL_STATES = ["IL", "NY", "CA", "TX", "FL", "MA", "WA", "OH", "PA", "MI"]
REVIEWERS = [
    (
        "neuroradiology",
        "neuro@example.com",
        "Dr. Maya Lindqvist",
        "Lakeside University Hospital",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Neuroradiology, Lakeside University",
            "turnaround_days": 3,
            "bio": "Brain tumours and epilepsy imaging; 15 years of practice.",
        },
        ALL_STATES,
    ),
    (
        "neuroradiology",
        "neuro2@example.com",
        "Dr. Arjun Mehta",
        "Prairie Neuro Imaging",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Neuroradiology, Eastbay Medical College",
            "turnaround_days": 4,
            "bio": "Spine, head and neck imaging.",
        },
        ["IL", "NY", "TX", "WI"],
    ),
    (
        "neuroradiology",
        "neuro3@example.com",
        "Dr. Clara Jansen",
        "Springfield General Hospital",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Neuroradiology, Springfield University",
            "turnaround_days": 2,
            "bio": "Stroke and vascular neuroimaging.",
        },
        ["IL", "MO"],
    ),
    (
        "musculoskeletal",
        "msk@example.com",
        "Dr. Tomás Okafor",
        "Riverbend Orthopedic Institute",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Musculoskeletal Radiology, Riverbend",
            "turnaround_days": 3,
        },
        ALL_STATES,
    ),
    (
        "musculoskeletal",
        "msk2@example.com",
        "Dr. Ingrid Solberg",
        "Coastal Sports Medicine Imaging",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Musculoskeletal Radiology, Coastal University",
            "turnaround_days": 5,
        },
        ["CA", "WA", "OR"],
    ),
    (
        "breast",
        "breast@example.com",
        "Dr. Priya Raman",
        "Harbor Breast Imaging Center",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Breast Imaging, Harbor Medical Center",
            "mqsa_initial_qualification_on": -14 * 365,
            "mqsa_continuing_experience_due": 400,
            "mqsa_continuing_education_due": 700,
            "mqsa_dbt_trained_on": -6 * 365,
            "mqsa_last_verified_on": -30,
            "affiliations": "Harbor Medical Center\nBayview Women's Health",
            "turnaround_days": 3,
        },
        ALL_STATES,
    ),
    (
        "breast",
        "breast2@example.com",
        "Dr. Helen Park",
        "Northside Women's Imaging",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Breast Imaging, Northside",
            "mqsa_initial_qualification_on": -10 * 365,
            # Continuing education runs out within weeks: the coordinators' dashboard lists it.
            "mqsa_continuing_experience_due": 300,
            "mqsa_continuing_education_due": 45,
            "mqsa_last_verified_on": -200,
            "turnaround_days": 4,
        },
        ["IL", "NY", "NJ"],
    ),
    (
        "breast",
        "breast3@example.com",
        "Dr. Oliver Grant",
        "Valley Diagnostic Radiology",
        # Reads breast MRI and ultrasound but not (yet) mammograms: never offered a mammogram.
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "turnaround_days": 2,
        },
        ALL_STATES,
    ),
    (
        "cardiothoracic",
        "chest@example.com",
        "Dr. Jonas Weber",
        "Northfield Heart and Lung",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Cardiothoracic Imaging, Northfield",
            "turnaround_days": 3,
        },
        ALL_STATES,
    ),
    (
        "cardiothoracic",
        "chest2@example.com",
        "Dr. Amara Diallo",
        "Metro Chest Imaging",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Thoracic Imaging, Metro University",
            "turnaround_days": 5,
        },
        ["NY", "NJ", "PA"],
    ),
    (
        "abdominal",
        "abdomen@example.com",
        "Dr. Elena Costa",
        "Summit Abdominal Imaging",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Abdominal Imaging, Summit",
            "turnaround_days": 3,
        },
        ALL_STATES,
    ),
    (
        "abdominal",
        "abdomen2@example.com",
        "Dr. Rafael Ortiz",
        "Gulf Coast Body Imaging",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Body Imaging, Gulf Coast University",
            "turnaround_days": 4,
        },
        ["TX", "FL", "LA"],
    ),
    (
        "nuclear_medicine",
        "nuclear@example.com",
        "Dr. Samuel Adeyemi",
        "Westgate PET Center",
        {
            "board_certification": "American Board of Nuclear Medicine",
            "fellowship": "Nuclear Medicine and PET/CT, Westgate",
            "turnaround_days": 4,
        },
        ALL_STATES,
    ),
    (
        "pediatric",
        "pediatric@example.com",
        "Dr. Hana Sato",
        "Children's Hospital of Fairview",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "fellowship": "Pediatric Radiology, Fairview",
            "turnaround_days": 3,
        },
        ALL_STATES,
    ),
    (
        "general",
        "general@example.com",
        "Dr. Louis Martin",
        "Central Radiology Group",
        {
            "board_certification": "American Board of Radiology, Diagnostic Radiology",
            "turnaround_days": 4,
        },
        ALL_STATES,
    ),
    (
        "neuroradiology",
        "neurosurgeon@example.com",
        "Dr. Grace Whitfield",
        "Lakeside University Hospital",
        {
            "kind": "clinical",
            "clinical_specialty": "surgeon",
            "board_certification": "American Board of Neurological Surgery",
            "fellowship": "Neurosurgical Oncology",
            "in_person": True,
            "turnaround_days": 7,
            "capacity": 5,
        },
        ["IL", "NY"],
    ),
    (
        "breast",
        "oncologist@example.com",
        "Dr. Daniel Kim",
        "Harbor Cancer Institute",
        {
            "kind": "clinical",
            "clinical_specialty": "oncologist",
            "board_certification": "American Board of Internal Medicine, Medical Oncology",
            "in_person": True,
            "turnaround_days": 6,
            "capacity": 6,
        },
        ALL_STATES,
    ),
]


# Demo licences expire this many days after the command runs; one licence per demo list expires
# sooner (see `EXPIRING_SOON`) so the dashboard's credential panel has something to show.
LICENCE_EXPIRY = 500
EXPIRING_SOON = {("neuro2@example.com", "WI"): 20}
DATE_FIELDS = (
    "mqsa_initial_qualification_on",
    "mqsa_continuing_experience_due",
    "mqsa_continuing_education_due",
    "mqsa_dbt_trained_on",
    "mqsa_last_verified_on",
)


def _dated(extra: dict, today: date) -> dict:
    """The profile fields, with credential dates given in days from today made into dates."""
    return {
        name: today + timedelta(days=value) if name in DATE_FIELDS else value
        for name, value in extra.items()
    }


class Command(BaseCommand):
    help = (
        "Create demo accounts: patient, coordinator, a few specialists per subspecialty. "
        "Re-runnable."
    )

    def handle(self, *args, **options) -> None:
        ensure_role_groups()
        today = timezone.localdate()
        with transaction.atomic():
            logins = [
                ("patient", self._user("patient@example.com", "Jane", "Doe")),
                ("coordinator", self._coordinator()),
                ("admin", self._user("admin@example.com", "Ada", "Admin", superuser=True)),
            ]
            for slug, email, name, institution, extra, states in REVIEWERS:
                user = self._user(email, *name.removeprefix("Dr. ").split(" ", 1))
                profile, _ = ReviewerProfile.objects.update_or_create(
                    user=user,
                    defaults={
                        "display_name": name,
                        "institution": institution,
                        **_dated(extra, today),
                    },
                )
                profile.subspecialties.set([Subspecialty.objects.get(slug=slug)])
                profile.licenses.exclude(state__in=states).delete()
                for number, state in enumerate(states, start=1):
                    days = EXPIRING_SOON.get((email, state), LICENCE_EXPIRY)
                    ReviewerLicense.objects.update_or_create(
                        reviewer=profile,
                        state=state,
                        defaults={
                            "number": f"{state}-DEMO-{profile.pk:04d}{number:02d}",
                            "expires_on": today + timedelta(days=days),
                            "last_verified_on": today - timedelta(days=30),
                        },
                    )
                kind = "specialist" if extra.get("kind") == "clinical" else "reviewer"
                logins.append((f"{kind} ({slug})", user))
            plans = seed_insurance()
        self.stdout.write(f"Insurance plans: {len(plans)} (Insurance > Plans in the admin).")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, user in logins:
            key = self._authenticator_key(user) if second_factor_required(user) else ""
            self.stdout.write(f"  {role:<30} {user.email:<28} {key}".rstrip())
        self.stdout.write(
            "Reviewers, coordinators and admins log in with an authenticator app as well: add "
            "the key shown beside them to any TOTP app (or `oathtool --totp -b KEY`)."
        )

    def _authenticator_key(self, user) -> str:
        """The demo account's authenticator app secret, set up once and kept on re-runs."""
        app = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        app = app or TOTP.activate(user, generate_totp_secret()).instance
        return decrypt(app.data["secret"])

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
