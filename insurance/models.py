from django.db import models


class PlanType(models.TextChoices):
    COMMERCIAL = "commercial", "Private or employer insurance"
    MEDICARE = "medicare", "Medicare"
    MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
    MEDICAID = "medicaid", "Medicaid"
    NONE = "none", "No insurance: I'll pay myself"


class Referral(models.TextChoices):
    YES = "yes", "Yes, I have a referral"
    NO = "no", "No"
    UNSURE = "unsure", "I'm not sure"


class CaseInsurance(models.Model):
    """The insurance the patient told us about for one case."""

    case = models.OneToOneField(
        "requests_app.Case", on_delete=models.CASCADE, related_name="insurance"
    )
    plan_type = models.CharField("type of coverage", max_length=24, choices=PlanType.choices)
    insurer_name = models.CharField("insurance company", max_length=120, blank=True)
    member_id = models.CharField("member ID", max_length=40, blank=True)
    group_number = models.CharField("group number", max_length=40, blank=True)
    has_referral = models.CharField(
        "do you have a referral from your doctor?",
        max_length=8,
        choices=Referral.choices,
        blank=True,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "case insurance"

    def __str__(self) -> str:
        return self.get_plan_type_display()

    @property
    def is_self_pay(self) -> bool:
        return self.plan_type == PlanType.NONE
