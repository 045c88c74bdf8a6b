from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    label = "requests_app"
    verbose_name = "Second-opinion requests"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import roles

        # After every app: the group needs the permissions of apps migrated after this one.
        post_migrate.connect(roles.ensure_role_groups, dispatch_uid="ensure_role_groups")
