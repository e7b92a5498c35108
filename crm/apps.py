from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Import jobs in the admin (registered beside crm/admin.py, which autodiscover loads).
        from crm.imports import admin  # noqa: F401
