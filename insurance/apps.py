from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class InsuranceConfig(AppConfig):
    name = "insurance"
    verbose_name = "Insurance"

    def ready(self) -> None:
        from .models import ServicePrice
        from .services import forget_price_list

        post_save.connect(forget_price_list, sender=ServicePrice, dispatch_uid="price-list-saved")
        post_delete.connect(
            forget_price_list, sender=ServicePrice, dispatch_uid="price-list-deleted"
        )
