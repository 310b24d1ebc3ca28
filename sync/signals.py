"""Signals sync sends; other apps listen without sync knowing them."""

from django.dispatch import Signal

# After a sync run wrote anything to either side (its own writes do not send events' calendar_changed).
# Keyword argument: calendar_id (the calsync calendar of the integration).
run_changed = Signal()
