from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self) -> None:
        from events.signals import calendar_changed
        from sync.signals import run_changed

        from . import cache

        def changed(sender: object, calendar_id: int, **kwargs: object) -> None:
            cache.forget_calendar(calendar_id)

        calendar_changed.connect(changed, dispatch_uid="scheduling-forget-after-a-change", weak=False)
        run_changed.connect(changed, dispatch_uid="scheduling-forget-after-a-sync", weak=False)
