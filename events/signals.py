"""Signals events sends; other apps listen without events knowing them."""

from django.dispatch import Signal

# After a write to a calendar's items commits. Keyword argument: calendar_id.
calendar_changed = Signal()
