"""Signals accounts sends; other apps listen without accounts knowing them."""

from django.dispatch import Signal

# A person's time zone changed (after the save, in its transaction). Keyword argument: user_id. Floating times in
# their calendars happen on their clock, so what is derived from them (the reports' time index) is read again.
user_zone_changed = Signal()
