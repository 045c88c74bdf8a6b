from django.db import migrations

SUBSPECIALTIES = [
    ("neuroradiology", "Neuroradiology", "Neuroradiologist", "brain, head, neck and spine"),
    (
        "musculoskeletal",
        "Musculoskeletal radiology",
        "Musculoskeletal radiologist",
        "joints, bones, muscles and sports injuries",
    ),
    ("breast", "Breast imaging", "Breast imager", "mammograms, breast MRI and ultrasound"),
    (
        "cardiothoracic",
        "Cardiothoracic radiology",
        "Cardiothoracic radiologist",
        "chest, lungs and heart",
    ),
    (
        "abdominal",
        "Abdominal radiology",
        "Abdominal radiologist",
        "liver, kidneys, pancreas, bowel, pelvis and prostate",
    ),
    (
        "nuclear_medicine",
        "Nuclear medicine",
        "Nuclear medicine specialist",
        "PET and nuclear scans",
    ),
    ("pediatric", "Pediatric radiology", "Pediatric radiologist", "children under 18"),
    (
        "general",
        "General radiology",
        "General radiologist",
        "anything else; a coordinator finds the right expert",
    ),
]


def seed(apps, schema_editor):
    Subspecialty = apps.get_model("reviewers", "Subspecialty")
    for order, (slug, name, title, covers) in enumerate(SUBSPECIALTIES):
        Subspecialty.objects.update_or_create(
            slug=slug,
            defaults={"name": name, "specialist_title": title, "covers": covers, "order": order},
        )


class Migration(migrations.Migration):
    dependencies = [("reviewers", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
