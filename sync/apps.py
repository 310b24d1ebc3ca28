from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"

    def ready(self) -> None:
        from events.signals import calendar_changed

        from . import services

        def changed(sender: object, calendar_id: int, **kwargs: object) -> None:
            services.sync_soon(calendar_id=calendar_id)

        calendar_changed.connect(changed, dispatch_uid="sync-soon-after-a-change", weak=False)
