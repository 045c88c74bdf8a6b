"""Our self-pay price list (insurance/price_table.py), so every installation can quote a price;
coordinators edit it in the admin. (Payers and plans are demo data: `seed_demo`.)"""

from decimal import Decimal

from django.db import migrations

from insurance.price_table import PRICES


def seed(apps, schema_editor):
    ServicePrice = apps.get_model("insurance", "ServicePrice")
    for review_type, self_pay, allowed, cpt, description in PRICES:
        ServicePrice.objects.get_or_create(
            review_type=review_type,
            defaults={
                "self_pay_price": Decimal(self_pay),
                "allowed_amount": Decimal(allowed),
                "cpt_codes": cpt,
                "description": description,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("insurance", "0003_plans_coverage_paperwork")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
