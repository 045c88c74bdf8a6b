from django.contrib import admin

from .models import ReviewerProfile, RoutingRule, Subspecialty


@admin.register(Subspecialty)
class SubspecialtyAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "specialist_title", "order"]
    ordering = ["order"]


@admin.register(ReviewerProfile)
class ReviewerProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "institution", "is_active"]
    list_filter = ["is_active", "subspecialties"]
    list_select_related = ["user"]
    search_fields = ["display_name", "user__email", "institution"]
    raw_id_fields = ["user"]
    filter_horizontal = ["subspecialties"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "subspecialty", "confidence", "is_active"]
    # Reordering and switching rules off are the everyday edits, so they are done from the list.
    list_editable = ["order", "is_active"]
    list_filter = ["subspecialty", "is_active"]
    list_select_related = ["subspecialty"]
    search_fields = ["name", "body_part_keywords", "description_keywords"]
    ordering = ["order", "name"]
    fieldsets = [
        (None, {"fields": ["name", "order", "is_active"]}),
        (
            "What the scan headers say",
            {
                "fields": ["modalities", "body_part_keywords", "description_keywords"],
                "description": (
                    "Filled-in conditions must all hold and empty ones match anything; body part "
                    "and description keywords count as one condition that either can meet."
                ),
            },
        ),
        ("What the patient told us", {"fields": ["declared_regions", "declared_exam_types"]}),
        ("Age", {"fields": ["max_age"]}),
        ("Result", {"fields": ["subspecialty", "confidence"]}),
    ]
