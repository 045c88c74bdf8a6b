"""Seeds the routing table shipped in reviewers/routing_table.py; coordinators refine it."""

from django.db import migrations

from reviewers.routing_table import RULES


def seed(apps, schema_editor):
    RoutingRule = apps.get_model("reviewers", "RoutingRule")
    for order, name, subspecialty, confidence, conditions in RULES:
        RoutingRule.objects.update_or_create(
            name=name,
            defaults={
                "order": order,
                "subspecialty_id": subspecialty,
                "confidence": confidence,
                "is_active": True,
                **conditions,
            },
        )


def unseed(apps, schema_editor):
    RoutingRule = apps.get_model("reviewers", "RoutingRule")
    RoutingRule.objects.filter(name__in=[name for _, name, *_ in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("reviewers", "0003_routingrule")]
    operations = [migrations.RunPython(seed, unseed)]
