from django.contrib import admin

from .models import CaseInsurance


@admin.register(CaseInsurance)
class CaseInsuranceAdmin(admin.ModelAdmin):
    list_display = ["case", "plan_type", "insurer_name", "has_referral", "updated_at"]
    list_filter = ["plan_type", "has_referral"]
    list_select_related = ["case"]
    search_fields = ["case__code", "insurer_name"]
    raw_id_fields = ["case"]
