from django.db import migrations

# Hours a case may spend in each status before it is flagged (urgent cases get half).
DEFAULT_TARGETS = {
    "submitted": 24,
    "needs_records": 14 * 24,
    "awaiting_insurance": 5 * 24,
    "queued": 48,
    "in_review": 5 * 24,
}
# Subspecialties that promise faster reads.
SUBSPECIALTY_TARGETS = [
    ("in_review", "breast", 3 * 24),
    ("queued", "breast", 24),
    ("queued", "pediatric", 24),
]


def seed(apps, schema_editor):
    SlaTarget = apps.get_model("requests_app", "SlaTarget")
    Subspecialty = apps.get_model("reviewers", "Subspecialty")
    for status, hours in DEFAULT_TARGETS.items():
        SlaTarget.objects.get_or_create(status=status, subspecialty=None, defaults={"hours": hours})
    known = set(Subspecialty.objects.values_list("slug", flat=True))
    for status, slug, hours in SUBSPECIALTY_TARGETS:
        if slug in known:
            SlaTarget.objects.get_or_create(
                status=status, subspecialty_id=slug, defaults={"hours": hours}
            )


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0002_triage_messages_notifications"),
        ("reviewers", "0002_seed_subspecialties"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
