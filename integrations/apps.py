from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from . import registry
        from .providers import Provider

        registry.register(Provider.CALSYNC, "integrations.calsync_calendar")
        registry.register(Provider.CALDAV, "integrations.caldav.provider")
        registry.register(Provider.GOOGLE, "integrations.google.provider")
        registry.register(Provider.MICROSOFT, "integrations.microsoft.provider")
        registry.register(Provider.EXCHANGE, "integrations.exchange.provider")
        registry.register(Provider.ICS, "integrations.ics.provider")
