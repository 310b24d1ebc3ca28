from django.apps import AppConfig


class DavConfig(AppConfig):
    name = "dav"
    verbose_name = "CalDAV server and feeds"

    def ready(self) -> None:
        from events.signals import calendar_changed
        from sync.signals import run_changed

        from . import signals  # noqa: F401  (connects the receivers)
        from .push import push_soon

        def changed(sender: object, calendar_id: int, **kwargs: object) -> None:
            push_soon(calendar_id=calendar_id)

        # After the commit: a change made in calsync or over CalDAV, and once at the end of a sync that wrote.
        calendar_changed.connect(changed, dispatch_uid="dav-push-after-a-change", weak=False)
        run_changed.connect(changed, dispatch_uid="dav-push-after-a-sync", weak=False)
