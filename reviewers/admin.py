from django.contrib import admin

from .models import ReviewerProfile, Subspecialty


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
