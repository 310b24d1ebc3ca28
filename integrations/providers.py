"""The calendar providers calsync can sync with.

Each provider's package (integrations/<provider>/) registers its adapter here as
it is built; the keys are what tenants allow and integrations store.
"""

from __future__ import annotations

from django.db import models


class Provider(models.TextChoices):
    GOOGLE = "google", "Google Calendar"
    MICROSOFT = "microsoft", "Microsoft 365 / Outlook"
    EXCHANGE = "exchange", "Exchange on-premises"
    CALDAV = "caldav", "CalDAV"
    # Another of the user's own calsync calendars: allowed or refused by the organisation like the others.
    CALSYNC = "calsync", "Another calsync calendar"
    # A published calendar read from its URL (holidays, a partner's calendar, a booking system's feed): read only.
    ICS = "ics", "Subscribed calendar (ICS URL)"


# Providers that reach a mailbox (config["account"]): one mailbox is connected once, over Graph or over EWS.
MAILBOX_PROVIDERS = (Provider.MICROSOFT, Provider.EXCHANGE)

# What a tenant can allow or refuse its users.
ALL_PROVIDERS: list[str] = [p.value for p in Provider]
