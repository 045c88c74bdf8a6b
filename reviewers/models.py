from django.conf import settings
from django.db import models


class Subspecialty(models.Model):
    """A kind of specialist, and the queue of cases waiting for one."""

    slug = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField(max_length=80)
    specialist_title = models.CharField(max_length=80)
    covers = models.CharField(max_length=200, help_text="What it covers, in plain words.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "subspecialties"

    def __str__(self) -> str:
        return self.name


class ReviewerProfile(models.Model):
    """A specialist who reads studies and writes second-opinion reports."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_profile"
    )
    display_name = models.CharField(max_length=120)
    subspecialties = models.ManyToManyField(Subspecialty, related_name="reviewers")
    institution = models.CharField(max_length=200, blank=True)
    bio = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name
