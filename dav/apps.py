from django.apps import AppConfig


class DavConfig(AppConfig):
    name = "dav"
    verbose_name = "CalDAV server and feeds"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)
