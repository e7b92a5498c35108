from django.apps import AppConfig


class OnlyFansConfig(AppConfig):
    name = "onlyfans"
    verbose_name = "OnlyFans pipeline"
    default_auto_field = "django.db.models.BigAutoField"
