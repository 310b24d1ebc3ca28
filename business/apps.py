from django.apps import AppConfig


class BusinessConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "business"
    verbose_name = "Clients, projects and activities"

    def ready(self) -> None:
        # Celery's autodiscovery looks for business.tasks only; the rules' task lives with the rules.
        from .rules import tasks  # noqa: F401
